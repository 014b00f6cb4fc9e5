#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthSystem
import Foundation

/// A layer file a download is still writing. Unpacking reads it as the bytes land and waits for
/// more; it sees the end only once the download has checked the blob's digest, so nothing is
/// committed from bytes that turn out wrong. A download that starts over (a retry) tells readers
/// to give up and read the finished file instead.
final class GrowingFile: @unchecked Sendable {
    enum State { case open, done, failed(any Error), restarted }
    private let cond = NSCondition()
    private var written: Int64 = 0
    private var state = State.open

    func wrote(_ total: Int64) {
        cond.lock(); written = total; cond.broadcast(); cond.unlock()
    }

    func restart() {
        cond.lock(); state = .restarted; cond.broadcast(); cond.unlock()
    }

    func finish(_ error: (any Error)?) {
        cond.lock()
        if case .open = state { state = error.map { .failed($0) } ?? .done }
        cond.broadcast()
        cond.unlock()
    }

    /// Waits until more than `offset` bytes exist (returns how many) or the file is complete (nil).
    func available(after offset: Int64) throws -> Int64? {
        cond.lock(); defer { cond.unlock() }
        while true {
            switch state {
            case .failed(let e): throw e
            case .restarted: throw DownloadRestarted()
            case .done: return written > offset ? written : nil
            case .open:
                if written > offset { return written }
                cond.wait()
            }
        }
    }
}

/// The download started over; unpack from the finished file.
struct DownloadRestarted: Error {}

/// Reads a `GrowingFile` from its start, waiting for bytes as they are written.
struct GrowingFileReader: ByteReader {
    let fd: Int32
    let file: GrowingFile
    var offset: Int64 = 0

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0, let end = try file.available(after: offset) else { return 0 }
        let want = Int(min(Int64(buffer.count), end - offset))
        let n = pread(fd, buffer.baseAddress, want, off_t(offset))
        guard n > 0 else { throw BerthError.system("read layer download: \(Syscall.errnoText())") }
        offset += Int64(n)
        return n
    }
}

/// Looks at the first bytes of a stream without consuming them (compression magic).
struct PeekingReader<R: ByteReader>: ByteReader {
    var inner: R
    var head: [UInt8] = []

    init(_ inner: R, peek n: Int) throws {
        self.inner = inner
        var buf = [UInt8](repeating: 0, count: n)
        while head.count < n {
            let got = try buf.withUnsafeMutableBytes { p in try self.inner.read(into: UnsafeMutableRawBufferPointer(rebasing: p[0..<(n - head.count)])) }
            if got == 0 { break }
            head += buf[0..<got]
        }
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if !head.isEmpty {
            let n = min(buffer.count, head.count)
            head.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
            head.removeFirst(n)
            return n
        }
        return try inner.read(into: buffer)
    }
}
