@testable import BerthAPI
import Testing

/// The websocket pieces of attach/ws: RFC 6455's handshake example, frames both ways.
@Suite struct WebSocketTests {
    static func masked(_ op: UInt8, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
        let mask: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]
        var b: [UInt8] = [(fin ? 0x80 : 0) | op]
        if payload.count < 126 { b.append(0x80 | UInt8(payload.count)) } else { b += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)] }
        return b + mask + payload.enumerated().map { $0.element ^ mask[$0.offset & 3] }
    }

    @Test func handshakeAnswer() {
        #expect(WebSocket.accept(key: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func framesInPieces() throws {
        let bytes = Self.masked(1, Array("Hel".utf8), fin: false) + Self.masked(0, Array("lo".utf8)) + Self.masked(9, [])
            + Self.masked(2, [UInt8](repeating: 7, count: 300))
        var d = WebSocket.Decoder()
        var frames: [WebSocket.Frame] = []
        for b in bytes { frames += try d.feed([b]) }
        #expect(frames.map(\.opcode) == [.text, .continuation, .ping, .binary])
        #expect(frames[0].payload + frames[1].payload == Array("Hello".utf8))
        #expect(frames[3].payload.count == 300 && frames[3].payload.allSatisfy { $0 == 7 })
    }

    @Test func refusals() {
        var d = WebSocket.Decoder()
        #expect(throws: WebSocket.ProtocolError.self) { try d.feed([0x81, 0x05] + Array("hello".utf8)) }  // not masked
        var e = WebSocket.Decoder()
        #expect(throws: WebSocket.ProtocolError.self) { try e.feed([0x82, 0xff] + [UInt8](repeating: 0xff, count: 8)) }  // huge
        var f = WebSocket.Decoder()
        #expect(throws: WebSocket.ProtocolError.self) { try f.feed(Self.masked(9, [UInt8](repeating: 0, count: 200))) }  // long ping
    }

    @Test func serverFrames() {
        #expect(WebSocket.encode(.binary, [1, 2]) == [0x82, 2, 1, 2])
        #expect(Array(WebSocket.encode(.text, [UInt8](repeating: 0, count: 200)).prefix(4)) == [0x81, 126, 0, 200])
        #expect(Array(WebSocket.encode(.binary, [UInt8](repeating: 0, count: 70000)).prefix(2)) == [0x82, 127])
    }
}
