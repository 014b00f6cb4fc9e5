#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthModels
import BerthImage
import BerthSystem
import Foundation
import Testing

/// The push compressor (parallel gzip members, stored when incompressible) against the reader
/// Berth pulls with and against gzip(1).
@Suite struct GzipTests {
    func roundTrip(_ data: [UInt8]) throws -> (blob: [UInt8], back: [UInt8], viaGzip: [UInt8]) {
        let dir = "/tmp/berth-gz-" + String(Identifier.random64().prefix(8))
        try FS.mkdirAll(dir)
        defer { FS.removeAll(dir) }
        try FS.writeAtomically(dir + "/in", Data(data), mode: 0o600)
        var sink = MemoryWriter()
        let (digest, size) = try GzipFile.compress(dir + "/in", into: &sink)
        let blob = sink.bytes
        try FS.writeAtomically(dir + "/out.gz", Data(blob), mode: 0o600)
        #expect(Int64(blob.count) == size)
        #expect(Digest.sha256(blob) == digest)
        var r = try GzipReader(MemoryReader(blob))
        var back: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try buf.withUnsafeMutableBytes { try r.read(into: $0) }
            if n == 0 { break }
            back += buf[0..<n]
        }
        let gz = try Subprocess.runBlocking(["gzip", "-dc", dir + "/out.gz"])
        #expect(gz.status == 0)
        return (blob, back, gz.stdout)
    }

    @Test func compressibleDataShrinksAndRoundTrips() throws {
        let line = Array("berth layer line 0123456789 abcdefghijklmnopqrstuvwxyz\n".utf8)
        var data: [UInt8] = []
        while data.count < 3_500_000 { data += line }
        let (blob, back, viaGzip) = try roundTrip(data)
        #expect(blob.count < data.count / 10)
        #expect(back == data)
        #expect(viaGzip == data)
    }

    @Test func randomDataIsStoredAndRoundTrips() throws {
        var g = SystemRandomNumberGenerator()
        let data = (0..<2_500_000).map { _ in UInt8.random(in: 0...255, using: &g) }
        let (blob, back, viaGzip) = try roundTrip(data)
        #expect(blob.count > data.count && blob.count < data.count + data.count / 100)
        #expect(back == data)
        #expect(viaGzip == data)
        // Same input, same blob: a layer keeps its digest across pushes.
        #expect(try roundTrip(data).blob == blob)
    }

    @Test func emptyFileIsOneEmptyMember() throws {
        let (_, back, viaGzip) = try roundTrip([])
        #expect(back.isEmpty && viaGzip.isEmpty)
    }
}
