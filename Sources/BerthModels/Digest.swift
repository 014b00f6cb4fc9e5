/// A content digest, `sha256:<64 lowercase hex>`, as the OCI image spec defines it.
///
/// Digests arrive from images, archives, registries and API clients, and Berth builds file
/// names from them (`layers/<hex>`, `blobs/sha256/<hex>`). So a `Digest` exists only once its
/// text has been checked: nothing but the registered algorithm and exactly its length of
/// lowercase hex. Decoding one from JSON checks it too, so a config or manifest with a bad
/// digest fails to decode instead of reaching a path.
public struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The 64 lowercase hex characters.
    public let hex: String

    /// Checks `text` (`sha256:<hex>`).
    public init(parsing text: String) throws(DigestError) {
        guard let colon = text.utf8.firstIndex(of: UInt8(ascii: ":")) else { throw DigestError(text, "invalid checksum digest format") }
        let algorithm = text[..<colon]
        let encoded = text[text.utf8.index(after: colon)...]
        guard !algorithm.isEmpty, !encoded.isEmpty,
              algorithm.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 43 || $0 == 46 || $0 == 95 || $0 == 45 })
        else { throw DigestError(text, "invalid checksum digest format") }
        guard algorithm == "sha256" else { throw DigestError(text, "unsupported digest algorithm") }
        guard encoded.utf8.count == 64 else { throw DigestError(text, "invalid checksum digest length") }
        guard Self.isLowerHex(encoded) else { throw DigestError(text, "invalid checksum digest format") }
        hex = String(encoded)
    }

    /// From the bare hex part (a layer directory name, an image id without its algorithm).
    public init(hex: String) throws(DigestError) {
        guard hex.utf8.count == 64, Self.isLowerHex(Substring(hex)) else { throw DigestError(hex, "invalid checksum digest format") }
        self.hex = hex
    }

    /// For hex the caller computed itself (a hash function's output).
    public init(computedHex: String) {
        precondition(computedHex.utf8.count == 64 && Self.isLowerHex(Substring(computedHex)), "not a sha256 hex digest")
        hex = computedHex
    }

    public var algorithm: String { "sha256" }
    public var description: String { "sha256:" + hex }
    /// The 12 characters Docker shows for layers and ids.
    public var short: String { String(hex.prefix(12)) }

    public static func < (l: Digest, r: Digest) -> Bool { l.hex < r.hex }

    static func isLowerHex(_ s: Substring) -> Bool {
        s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        do { self = try Digest(parsing: s) } catch {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// A digest that is not `sha256:<64 lowercase hex>`; the texts are go-digest's, which dockerd shows.
public struct DigestError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ text: String, _ reason: String) {
        // The offending text is shown cut short and with control characters escaped.
        let shown = String(text.unicodeScalars.prefix(80).map { $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0) })
        description = "invalid digest \"\(shown)\(text.unicodeScalars.count > 80 ? "…" : "")\": \(reason)"
    }
}
