import struct Crypto.SHA256
import BerthArchive
import BerthModels

/// Hashing into `Digest`s (the type lives in BerthModels, where image configs decode it).
extension Digest {
    public static func sha256(_ bytes: some Sequence<UInt8>) -> Digest {
        var h = SHA256()
        h.update(data: Array(bytes))
        return Digest(h.finalize())
    }

    /// The digest a finished hash gives.
    public init(_ d: SHA256.Digest) {
        let chars = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in d { out.append(chars[Int(b >> 4)]); out.append(chars[Int(b & 15)]) }
        self.init(computedHex: String(decoding: out, as: UTF8.self))
    }

    /// Chain ids identify a layer together with everything below it (OCI image spec).
    public static func chainIDs(_ diffIDs: [Digest]) -> [Digest] {
        var out: [Digest] = []
        for d in diffIDs {
            if let last = out.last { out.append(sha256(Array((last.description + " " + d.description).utf8))) } else { out.append(d) }
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

    public var digest: Digest { Digest(hasher.finalize()) }
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
    public var digest: Digest { Digest(hasher.finalize()) }
}
