import BerthImage
import BerthModels
import Synchronization

/// `--cache-from`: images (pulled from elsewhere, so with no parent links and no local cache
/// rows) whose history can stand for this build's steps, as dockerd's classic builder uses them.
/// A step is found in an image when everything before it is the image's history and layers up to
/// there, and the image's next history entry has the step's text (`created_by`, byte for byte).
/// The first image that matches is the only one looked in after that, as dockerd does.
final class CacheFrom: Sendable {
    struct Source: Sendable {
        let id: String
        let file: ImageConfigFile
    }
    let sources: Mutex<[Source]>

    init(_ sources: [Source]) { self.sources = Mutex(sources) }

    var isEmpty: Bool { sources.withLock { $0.isEmpty } }

    /// What to make of a step with text `createdBy` over `parent`: the source image itself
    /// when the step is its last, else the history entry (and its layer, if it has one) to add to
    /// the parent.
    enum Hit {
        case image(String)
        case entry(ImageConfigFile.History, layer: Digest?, source: ImageConfigFile)
    }

    func find(parent: ImageConfigFile?, createdBy: String) -> Hit? {
        let list = sources.withLock { $0 }
        let n = parent?.history?.count ?? 0
        for s in list {
            let history = s.file.history ?? []
            guard history.count > n, Self.extends(s.file, parent), history[n].created_by == createdBy else { continue }
            sources.withLock { $0 = [s] }
            if history.count - 1 == n { return .image(s.id) }
            return .entry(history[n], layer: Self.layer(s.file, at: n), source: s.file)
        }
        return nil
    }

    /// Whether `image` starts with all of `parent`'s history and layers.
    static func extends(_ image: ImageConfigFile, _ parent: ImageConfigFile?) -> Bool {
        guard let parent, !(parent.history ?? []).isEmpty || !parent.rootfs.diff_ids.isEmpty else { return true }
        let ph = parent.history ?? [], ih = image.history ?? []
        guard ph.count < ih.count, parent.rootfs.diff_ids.count <= image.rootfs.diff_ids.count else { return false }
        for (a, b) in zip(ph, ih) where !same(a, b) { return false }
        return Array(image.rootfs.diff_ids.prefix(parent.rootfs.diff_ids.count)) == parent.rootfs.diff_ids
    }

    static func same(_ a: ImageConfigFile.History, _ b: ImageConfigFile.History) -> Bool {
        a.created == b.created && a.created_by == b.created_by && (a.author ?? "") == (b.author ?? "")
            && (a.comment ?? "") == (b.comment ?? "") && (a.empty_layer ?? false) == (b.empty_layer ?? false)
    }

    /// The layer the history entry at `index` added (nil for an empty layer).
    static func layer(_ image: ImageConfigFile, at index: Int) -> Digest? {
        let history = image.history ?? []
        guard index < history.count, !(history[index].empty_layer ?? false) else { return nil }
        let before = history.prefix(index).filter { !($0.empty_layer ?? false) }.count
        return before < image.rootfs.diff_ids.count ? image.rootfs.diff_ids[before] : nil
    }
}
