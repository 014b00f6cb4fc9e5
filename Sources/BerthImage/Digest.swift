import Crypto
import BerthArchive

/// sha256 helpers; digests are written `sha256:<hex>`.
public enum Digest {
    public static func sha256(_ bytes: some Sequence<UInt8>) -> String {
        var h = SHA256()
        h.update(data: Array(bytes))
        return "sha256:" + hex(h.finalize())
    }

    public static func hex(_ d: SHA256.Digest) -> String {
        let chars = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in d { out.append(chars[Int(b >> 4)]); out.append(chars[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The hex part of `sha256:<hex>`.
    public static func hexPart(_ digest: String) -> String {
        digest.hasPrefix("sha256:") ? String(digest.dropFirst(7)) : digest
    }

    /// Chain ids identify a layer together with everything below it (OCI image spec).
    public static func chainIDs(_ diffIDs: [String]) -> [String] {
        var out: [String] = []
        for d in diffIDs {
            if let last = out.last { out.append(sha256(Array((last + " " + d).utf8))) } else { out.append(d) }
        }
        return out
    }
}

/// Hashes everything read through it.
public struct HashingReader<R: ByteReader>: ByteReader {
    var inner: R
    var hasher = SHA256()
    public private(set) var count: Int64 = 0

    public init(_ inner: R) { self.inner = inner }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try inner.read(into: buffer)
        if n > 0 {
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            count += Int64(n)
        }
        return n
    }

    public var digest: String { "sha256:" + Digest.hex(hasher.finalize()) }
}

/// Hashes everything written through it.
public struct HashingWriter<W: ByteWriter>: ByteWriter {
    public var inner: W
    var hasher = SHA256()
    public private(set) var count: Int64 = 0
    public init(_ inner: W) { self.inner = inner }
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bufferPointer: bytes)
        count += Int64(bytes.count)
        try inner.write(bytes)
    }
    public var digest: String { "sha256:" + Digest.hex(hasher.finalize()) }
}
