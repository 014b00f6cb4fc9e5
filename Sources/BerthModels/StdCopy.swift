/// Docker's stdcopy framing: `[stream, 0, 0, 0, size (big-endian u32)]` then the payload.
public enum StdCopy {
    public static func frame(stream: UInt8, _ payload: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 8)
        out.reserveCapacity(8 + payload.count)
        out[0] = stream
        let n = UInt32(payload.count)
        out[4] = UInt8(n >> 24); out[5] = UInt8((n >> 16) & 0xff); out[6] = UInt8((n >> 8) & 0xff); out[7] = UInt8(n & 0xff)
        out.append(contentsOf: payload)
        return out
    }

    /// Splits a framed buffer into (stream, payload) pairs; returns the unconsumed tail.
    public static func parse(_ bytes: [UInt8]) -> (frames: [(UInt8, [UInt8])], rest: [UInt8]) {
        var frames: [(UInt8, [UInt8])] = []
        var i = 0
        while bytes.count - i >= 8 {
            let n = Int(bytes[i + 4]) << 24 | Int(bytes[i + 5]) << 16 | Int(bytes[i + 6]) << 8 | Int(bytes[i + 7])
            guard bytes.count - i - 8 >= n else { break }
            frames.append((bytes[i], Array(bytes[(i + 8)..<(i + 8 + n)])))
            i += 8 + n
        }
        return (frames, Array(bytes[i...]))
    }
}
