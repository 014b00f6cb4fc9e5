#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthSystem
import CompressNIO
import NIOCore

/// gzip for pushes: the layer as stored (plain tar) becomes the compressed blob a registry keeps.
/// Level 1: pushing is bound by compression speed, and the registry's copy is what it is.
public enum GzipFile {
    /// Compresses `src` into `dst`; returns the blob's digest and size.
    public static func compress(_ src: String, to dst: String) throws -> (digest: String, size: Int64) {
        let ifd = open(src, O_RDONLY | O_CLOEXEC)
        guard ifd >= 0 else { throw BerthError.system("open \(src): \(Syscall.errnoText())") }
        defer { close(ifd) }
        let ofd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard ofd >= 0 else { throw BerthError.system("create \(dst): \(Syscall.errnoText())") }
        defer { close(ofd) }
        let z: ZlibCompressor
        do { z = try ZlibCompressor(algorithm: .gzip, configuration: .init(compressionLevel: 1)) }
        catch { throw BerthError.system("gzip: \(error)") }
        var out = HashingWriter(FDWriter(fd: ofd))
        var input = ByteBufferAllocator().buffer(capacity: 1 << 20)
        var output = ByteBufferAllocator().buffer(capacity: 1 << 20)
        var eof = false
        while true {
            if !eof && input.readableBytes == 0 {
                input.clear()
                let n = input.withUnsafeMutableWritableBytes { p in read(ifd, p.baseAddress, p.count) }
                guard n >= 0 else { throw BerthError.system("read \(src): \(Syscall.errnoText())") }
                if n == 0 { eof = true } else { input.moveWriterIndex(forwardBy: n) }
            }
            output.clear()
            var done = false
            do {
                try z.deflate(from: &input, to: &output, flush: eof ? .finish : .no)
                done = eof
            } catch let e as CompressNIOError where e == .bufferOverflow {
                // output full: write it and go on
            } catch {
                throw BerthError.system("gzip: \(error)")
            }
            try output.withUnsafeReadableBytes { try out.write($0) }
            if done { break }
        }
        return (out.digest, out.count)
    }
}
