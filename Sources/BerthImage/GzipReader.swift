import BerthArchive
import BerthSystem
import CompressNIO
import NIOCore

/// Streams the decompressed content of a gzip stream (layers, archives), members one after the
/// other. A truncated stream simply ends; callers verify digests, so a short layer fails there.
public struct GzipReader<R: ByteReader>: ByteReader {
    var inner: R
    let z: ZlibDecompressor
    var input: ByteBuffer
    var output: ByteBuffer
    var inputEOF = false

    public init(_ inner: R) throws {
        self.inner = inner
        do { z = try ZlibDecompressor(algorithm: .gzip) } catch { throw BerthError.system("gzip: \(error)") }
        input = ByteBufferAllocator().buffer(capacity: 256 * 1024)
        output = ByteBufferAllocator().buffer(capacity: 1 << 20)
    }

    mutating func refill() throws {
        input.discardReadBytes()
        let room = input.capacity - input.writerIndex
        let n = try input.withUnsafeMutableWritableBytes { p in try inner.read(into: UnsafeMutableRawBufferPointer(rebasing: p[0..<room])) }
        if n == 0 { inputEOF = true } else { input.moveWriterIndex(forwardBy: n) }
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while output.readableBytes == 0 {
            if input.readableBytes == 0 {
                if inputEOF { return 0 }
                try refill()
                if inputEOF && input.readableBytes == 0 { return 0 }
            }
            output.clear()
            do {
                try z.inflate(from: &input, to: &output)
            } catch let e as CompressNIOError where e == .bufferOverflow {
                // the window is full: hand it out first
            } catch let e as CompressNIOError where e == .inputBufferOverflow {
                if inputEOF { if output.readableBytes == 0 { return 0 } } else { try refill() }
            } catch {
                throw BerthError.invalid("invalid gzip data: \(error)")
            }
            if output.readableBytes == 0 && input.readableBytes > 0 {
                // A member ended. Another may follow (RFC 1952 multi-member streams, which
                // parallel compressors and Berth's own pushes write); anything else is not ours.
                if input.readableBytes < 2 && !inputEOF { try refill(); continue }
                let v = input.readableBytesView
                guard v.count >= 2, v[v.startIndex] == 0x1f, v[v.startIndex + 1] == 0x8b else { return 0 }
                do { try z.reset() } catch { throw BerthError.system("gzip: \(error)") }
            }
        }
        let n = min(buffer.count, output.readableBytes)
        output.withUnsafeReadableBytes { src in buffer.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: n) }
        output.moveReaderIndex(forwardBy: n)
        return n
    }
}

public enum Compression {
    public static func isGzip(_ head: [UInt8]) -> Bool { head.count >= 2 && head[0] == 0x1f && head[1] == 0x8b }
}
