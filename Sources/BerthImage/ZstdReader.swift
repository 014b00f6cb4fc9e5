import BerthArchive
import BerthSystem
import CZstd

/// Streams the decompressed content of a zstd stream (OCI `tar+zstd` layers) through the
/// system libzstd. Like `GzipReader`, a truncated stream just ends; digests catch it.
public struct ZstdReader<R: ByteReader>: ByteReader {
    var inner: R
    let state: ZstdState
    var inSize = 0
    var inPos = 0
    var eof = false

    public init(_ inner: R) throws {
        self.inner = inner
        state = try ZstdState()
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            if inPos == inSize && !eof {
                inSize = try inner.read(into: UnsafeMutableRawBufferPointer(start: state.input, count: state.inputCapacity))
                inPos = 0
                if inSize == 0 { eof = true }
            }
            var input = ZSTD_inBuffer(src: state.input, size: inSize, pos: inPos)
            var output = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            let rc = ZSTD_decompressStream(state.stream, &output, &input)
            if ZSTD_isError(rc) != 0 {
                throw BerthError.invalid("invalid zstd data: " + String(cString: ZSTD_getErrorName(rc)))
            }
            inPos = input.pos
            if output.pos > 0 { return output.pos }
            if eof && inPos == inSize { return 0 }
        }
    }
}

/// libzstd's decompression context and input buffer, freed with the reader.
final class ZstdState: @unchecked Sendable {
    let stream: OpaquePointer
    let input: UnsafeMutableRawPointer
    let inputCapacity: Int

    init() throws {
        guard let s = ZSTD_createDStream() else { throw BerthError.system("zstd: cannot create a decompression context") }
        stream = s
        ZSTD_initDStream(s)
        inputCapacity = Int(ZSTD_DStreamInSize())
        input = UnsafeMutableRawPointer.allocate(byteCount: inputCapacity, alignment: 16)
    }

    deinit {
        ZSTD_freeDStream(stream)
        input.deallocate()
    }
}

extension Compression {
    public static func isZstd(_ head: [UInt8]) -> Bool { head.count >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd }
}
