#if canImport(Glibc)
import Glibc
#endif
import BerthSystem

/// A source of bytes read front to back.
public protocol ByteReader {
    /// Fills up to `buffer.count` bytes; returns 0 at the end.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// A sink of bytes.
public protocol ByteWriter {
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws
}

/// Reads a byte range of a file with pread, so several readers can share one descriptor.
public struct FileRangeReader: ByteReader {
    let fd: Int32
    var offset: Int64
    let end: Int64

    public init(fd: Int32, offset: Int64 = 0, length: Int64 = Int64.max) {
        self.fd = fd
        self.offset = offset
        self.end = length == Int64.max ? Int64.max : offset + length
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let want = Int(min(Int64(buffer.count), end - offset))
        if want <= 0 { return 0 }
        while true {
            let n = pread(fd, buffer.baseAddress, want, off_t(offset))
            if n < 0 {
                if errno == EINTR { continue }
                throw BerthError.system("read: \(Syscall.errnoText())")
            }
            offset += Int64(n)
            return n
        }
    }
}

/// Writes to a file descriptor.
public struct FDWriter: ByteWriter {
    public let fd: Int32
    public init(fd: Int32) { self.fd = fd }
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws { try Syscall.writeAll(fd, bytes) }
}

/// Collects into memory (small archives and tests).
public struct MemoryWriter: ByteWriter {
    public var bytes: [UInt8] = []
    public init() {}
    public mutating func write(_ b: UnsafeRawBufferPointer) throws { bytes.append(contentsOf: b) }
}

/// Reads from memory.
public struct MemoryReader: ByteReader {
    let bytes: [UInt8]
    var pos = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - pos)
        if n <= 0 { return 0 }
        bytes.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + pos, byteCount: n)
        }
        pos += n
        return n
    }
}

/// Counts bytes read through it and reports the running total (progress bars).
public struct CountingReader<R: ByteReader>: ByteReader {
    var inner: R
    public private(set) var count: Int64 = 0
    let report: (Int64) -> Void
    public init(_ inner: R, report: @escaping (Int64) -> Void) { self.inner = inner; self.report = report }
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try inner.read(into: buffer)
        if n > 0 { count += Int64(n); report(count) }
        return n
    }
}

/// Stops a stream that grows past `limit` bytes (a decompression bomb) or whose request was
/// cancelled: what every decompressed or unpacked stream is read through.
public struct GuardedReader<R: ByteReader>: ByteReader {
    var inner: R
    let limit: Int64
    let cancel: CancelFlag?
    let what: String
    public private(set) var count: Int64 = 0

    public init(_ inner: R, limit: Int64, cancel: CancelFlag?, what: String) {
        self.inner = inner; self.limit = limit; self.cancel = cancel; self.what = what
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try cancel?.check()
        let n = try inner.read(into: buffer)
        count += Int64(n)
        if count > limit {
            throw BerthError.invalid("\(what) expands beyond the limit of \(ByteCount.text(limit)) (berthd --max-decompressed-size)")
        }
        return n
    }
}

/// Byte counts for messages: `64 GiB`, `512 MiB`, `1000 B`.
public enum ByteCount {
    public static func text(_ n: Int64) -> String {
        for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] where n >= Int64(1) << shift && n % (Int64(1) << shift) == 0 {
            return "\(n >> shift) \(unit)"
        }
        return "\(n) B"
    }
}
