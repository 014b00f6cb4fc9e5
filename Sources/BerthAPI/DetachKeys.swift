import BerthSystem

/// Watches client input for the detach sequence (default ctrl-p ctrl-q). A pure state machine:
/// feed it input, it returns what to forward and whether the client detached. Bytes that start
/// a sequence are held back until it is complete or broken, as the docker CLI expects.
public struct DetachKeys: Sendable, Equatable {
    public let sequence: [UInt8]
    private var matched = 0

    public static let dockerDefault = try! DetachKeys(spec: "ctrl-p,ctrl-q")

    /// `ctrl-p,ctrl-q`, `ctrl-a,x`, … (Docker's format: `ctrl-<letter or @[\\]^_>` or one character).
    public init(spec: String) throws {
        var seq: [UInt8] = []
        for part in spec.split(separator: ",") {
            let p = part.lowercased()
            if p.hasPrefix("ctrl-"), p.count == 6, let c = p.last?.asciiValue {
                switch c {
                case UInt8(ascii: "a")...UInt8(ascii: "z"): seq.append(c - UInt8(ascii: "a") + 1)
                case UInt8(ascii: "@"): seq.append(0)
                case UInt8(ascii: "["): seq.append(27)
                case UInt8(ascii: "\\"): seq.append(28)
                case UInt8(ascii: "]"): seq.append(29)
                case UInt8(ascii: "^"): seq.append(30)
                case UInt8(ascii: "_"): seq.append(31)
                default: throw BerthError.invalid("Invalid detach keys (\(spec)) provided")
                }
            } else if part.count == 1, let c = part.first?.asciiValue {
                seq.append(c)
            } else {
                throw BerthError.invalid("Invalid detach keys (\(spec)) provided")
            }
        }
        guard !seq.isEmpty else { throw BerthError.invalid("Invalid detach keys (\(spec)) provided") }
        sequence = seq
    }

    /// Returns the bytes to pass on, and true once the whole sequence was typed.
    public mutating func feed(_ input: [UInt8]) -> (forward: [UInt8], detached: Bool) {
        var out: [UInt8] = []
        for b in input {
            if b == sequence[matched] {
                matched += 1
                if matched == sequence.count { matched = 0; return (out, true) }
            } else {
                out += sequence[0..<matched]
                matched = 0
                if b == sequence[0] { matched = 1 } else { out.append(b) }
            }
        }
        return (out, false)
    }
}
