import BerthSystem
import Crypto
import Foundation

/// The parts of RFC 6455 that `GET /containers/{id}/attach/ws` needs: the handshake answer and
/// frames both ways. The client's frames are masked and may be fragmented; a frame larger than
/// `maxPayload` or a malformed one ends the connection.
public enum WebSocket {
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    public static let maxPayload = 1 << 20

    /// `Sec-WebSocket-Accept` for the client's `Sec-WebSocket-Key`.
    public static func accept(key: String) -> String {
        Data(Insecure.SHA1.hash(data: Data((key.trimmingCharacters(in: .whitespaces) + guid).utf8))).base64EncodedString()
    }

    public enum Opcode: UInt8, Sendable { case continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 }

    public struct Frame: Sendable, Equatable {
        public var opcode: Opcode
        public var fin: Bool
        public var payload: [UInt8]
    }

    public struct ProtocolError: Error, CustomStringConvertible {
        public let description: String
    }

    /// An unmasked frame from the server (FIN set).
    public static func encode(_ opcode: Opcode, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x80 | opcode.rawValue]
        let n = payload.count
        if n < 126 { out.append(UInt8(n)) }
        else if n <= 0xffff { out += [126, UInt8(n >> 8), UInt8(n & 0xff)] }
        else { out.append(127); for i in (0..<8).reversed() { out.append(UInt8((UInt64(n) >> (UInt64(i) * 8)) & 0xff)) } }
        return out + payload
    }

    /// Reassembles the client's frames from the bytes as they arrive.
    public struct Decoder: Sendable {
        var buffer: [UInt8] = []
        public init() {}

        /// The frames complete so far; throws on a protocol violation.
        public mutating func feed(_ bytes: [UInt8]) throws -> [Frame] {
            buffer += bytes
            var frames: [Frame] = []
            while let (frame, used) = try Self.parse(buffer) {
                frames.append(frame)
                buffer.removeFirst(used)
            }
            if buffer.count > maxPayload + 14 { throw ProtocolError(description: "frame too large") }
            return frames
        }

        static func parse(_ b: [UInt8]) throws -> (Frame, Int)? {
            guard b.count >= 2 else { return nil }
            let fin = b[0] & 0x80 != 0
            guard b[0] & 0x70 == 0 else { throw ProtocolError(description: "reserved bits set") }
            guard let opcode = Opcode(rawValue: b[0] & 0x0f) else { throw ProtocolError(description: "unknown opcode") }
            let masked = b[1] & 0x80 != 0
            guard masked else { throw ProtocolError(description: "client frames must be masked") }
            var len = UInt64(b[1] & 0x7f)
            var i = 2
            if len == 126 {
                guard b.count >= 4 else { return nil }
                len = UInt64(b[2]) << 8 | UInt64(b[3]); i = 4
            } else if len == 127 {
                guard b.count >= 10 else { return nil }
                len = 0
                for k in 2..<10 { len = len << 8 | UInt64(b[k]) }
                i = 10
            }
            guard len <= UInt64(maxPayload) else { throw ProtocolError(description: "frame too large") }
            if opcode.rawValue >= 8 && (len > 125 || !fin) { throw ProtocolError(description: "bad control frame") }
            guard b.count >= i + 4 + Int(len) else { return nil }
            let mask = Array(b[i..<(i + 4)])
            i += 4
            var payload = Array(b[i..<(i + Int(len))])
            for k in 0..<payload.count { payload[k] ^= mask[k & 3] }
            return (Frame(opcode: opcode, fin: fin, payload: payload), i + Int(len))
        }
    }
}
