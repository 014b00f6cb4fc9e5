@testable import BerthAPI
import BerthModels
import Testing

@Suite struct StdCopyTests {
    @Test func frameHeader() {
        let f = StdCopy.frame(stream: 2, Array("hello".utf8))
        #expect(Array(f.prefix(8)) == [2, 0, 0, 0, 0, 0, 0, 5])
        #expect(Array(f.dropFirst(8)) == Array("hello".utf8))
    }

    @Test func largeSizeIsBigEndian() {
        let f = StdCopy.frame(stream: 1, [UInt8](repeating: 7, count: 70000))
        #expect(Array(f[4..<8]) == [0, 1, 0x11, 0x70])
    }

    @Test func roundTripWithPartialTail() {
        var bytes = StdCopy.frame(stream: 1, Array("out".utf8)) + StdCopy.frame(stream: 2, Array("err".utf8))
        let extra = StdCopy.frame(stream: 1, Array("partial".utf8))
        bytes += extra.prefix(10)
        let (frames, rest) = StdCopy.parse(bytes)
        #expect(frames.count == 2)
        #expect(frames[0].0 == 1 && frames[0].1 == Array("out".utf8))
        #expect(frames[1].0 == 2 && frames[1].1 == Array("err".utf8))
        #expect(rest == Array(extra.prefix(10)))
    }

    @Test func contentTypeByVersion() {
        #expect(StreamFormat.contentType(tty: false, version: APIVersion(major: 1, minor: 47)) == "application/vnd.docker.multiplexed-stream")
        #expect(StreamFormat.contentType(tty: false, version: APIVersion(major: 1, minor: 41)) == "application/vnd.docker.raw-stream")
        #expect(StreamFormat.contentType(tty: true, version: APIVersion(major: 1, minor: 47)) == "application/vnd.docker.raw-stream")
    }
}
