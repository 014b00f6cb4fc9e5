#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthModels
import BerthSystem
import CompressNIO
import Dispatch
import Foundation
import NIOCore

/// gzip for pushes: the layer as stored (plain tar) becomes the compressed blob a registry keeps.
///
/// The file is cut into 1 MiB pieces, each compressed on its own as one gzip member (RFC 1952
/// lets members follow each other; every gzip reader, Berth's and Go's included, reads them as one
/// stream), so all cores work at once. A piece whose first 64 KiB do not shrink by 5% at level 1
/// (already-compressed or random data) is stored rather than deflated: compressing it would cost
/// most of the push time and save nothing. The output is a function of the input alone, so the
/// same layer always gets the same digest.
public enum GzipFile {
    static let piece = 1 << 20
    static let sample = 64 << 10

    /// Compresses `src` into any byte sink (an upload, as it is produced); returns digest and size.
    public static func compress<W: ByteWriter>(_ src: String, into sink: inout W) throws -> (digest: Digest, size: Int64) {
        let ifd = open(src, O_RDONLY | O_CLOEXEC)
        guard ifd >= 0 else { throw BerthError.system("open \(src): \(Syscall.errnoText())") }
        defer { close(ifd) }
        let workers = max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
        var out = HashingWriter(sink)
        defer { sink = out.inner }
        var offset: Int64 = 0
        var finished = false
        while !finished {
            var pieces: [[UInt8]] = []
            for _ in 0..<(workers * 2) {
                let p = try readPiece(ifd, at: offset)
                offset += Int64(p.count)
                if !p.isEmpty { pieces.append(p) }
                if p.count < piece { finished = true; break }
            }
            if pieces.isEmpty && offset == 0 { pieces.append([]) }  // an empty file is one empty member
            let batch = pieces
            let slots = Slots(batch.count)
            DispatchQueue.concurrentPerform(iterations: batch.count) { i in
                slots.set(i, Result { try member(batch[i]) })
            }
            for r in slots.results {
                let bytes = try r!.get()
                try bytes.withUnsafeBytes { try out.write($0) }
            }
        }
        return (out.digest, out.count)
    }

    static func readPiece(_ fd: Int32, at offset: Int64) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: piece)
        var got = 0
        while got < piece {
            let n = buf.withUnsafeMutableBytes { p in pread(fd, p.baseAddress! + got, piece - got, off_t(offset) + off_t(got)) }
            if n < 0 { if errno == EINTR { continue }; throw BerthError.system("read: \(Syscall.errnoText())") }
            if n == 0 { break }
            got += n
        }
        buf.removeLast(piece - got)
        return buf
    }

    /// One gzip member holding `data`, deflated at level 1 or stored.
    static func member(_ data: [UInt8]) throws -> [UInt8] {
        let head = Array(data.prefix(sample))
        var level: Int32 = 1
        if !head.isEmpty {
            let shrunk = try deflate(head, level: 1).count
            if shrunk * 100 >= head.count * 95 { level = 0 }
        }
        return try deflate(data, level: level)
    }

    static func deflate(_ data: [UInt8], level: Int32) throws -> [UInt8] {
        do {
            let z = try ZlibCompressor(algorithm: .gzip, configuration: .init(compressionLevel: level))
            var input = ByteBuffer(bytes: data)
            var output = ByteBufferAllocator().buffer(capacity: data.count + data.count / 64 + 1024)
            while true {
                do {
                    try z.deflate(from: &input, to: &output, flush: .finish)
                    break
                } catch let e as CompressNIOError where e == .bufferOverflow {
                    output.reserveCapacity(minimumWritableBytes: 1 << 16)
                }
            }
            return Array(output.readableBytesView)
        } catch let e as BerthError {
            throw e
        } catch {
            throw BerthError.system("gzip: \(error)")
        }
    }
}

/// Results of parallel work, each slot written by one worker.
final class Slots: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var results: [Result<[UInt8], any Error>?]
    init(_ n: Int) { results = Array(repeating: nil, count: n) }
    func set(_ i: Int, _ r: Result<[UInt8], any Error>) { lock.lock(); results[i] = r; lock.unlock() }
}
