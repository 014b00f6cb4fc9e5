/// Bounds on what an image, an archive or a registry can make Berth hold or write.
public enum ImageLimits {
    /// JSON documents read whole into memory: image configs, manifests, indexes, `manifest.json`.
    public static let json = 8 << 20
}
