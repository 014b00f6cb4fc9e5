import BerthSystem

/// Streams entries out of a tar archive (ustar, GNU long names, PAX headers incl. xattrs).
/// Usage: `while let e = try r.next() { try r.readData { chunk in … } }`; unread data is skipped.
public struct TarReader<R: ByteReader> {
    var source: R
    private var buffer: [UInt8]
    var start = 0
    var end = 0
    private var remaining: Int64 = 0
    private var padding: Int64 = 0
    private var globalPax: [String: String] = [:]
    /// Bytes consumed so far (offset of the next unread byte in the archive).
    public private(set) var position: Int64 = 0

    public init(_ source: R, bufferSize: Int = 1 << 20) {
        self.source = source
        self.buffer = [UInt8](repeating: 0, count: bufferSize)
    }

    private mutating func fill() throws -> Bool {
        if start < end { return true }
        let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
        start = 0
        end = n
        return n > 0
    }

    private mutating func readExact(_ count: Int) throws -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            guard try fill() else {
                if out.isEmpty { return nil }
                throw BerthError.invalid("unexpected EOF in tar archive")
            }
            let n = min(count - out.count, end - start)
            out.append(contentsOf: buffer[start..<(start + n)])
            start += n
            position += Int64(n)
        }
        return out
    }

    private mutating func skip(_ count: Int64) throws {
        var left = count
        while left > 0 {
            guard try fill() else { throw BerthError.invalid("unexpected EOF in tar archive") }
            let n = Int(min(left, Int64(end - start)))
            start += n
            position += Int64(n)
            left -= Int64(n)
        }
    }

    /// Delivers the current entry's data in chunks.
    public mutating func readData(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        while remaining > 0 {
            guard try fill() else { throw BerthError.invalid("unexpected EOF in tar archive") }
            let n = Int(min(remaining, Int64(end - start)))
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<(start + n)])) }
            start += n
            position += Int64(n)
            remaining -= Int64(n)
        }
    }

    public mutating func readAllData(limit: Int = 64 << 20) throws -> [UInt8] {
        guard remaining <= Int64(limit) else { throw BerthError.invalid("tar entry too large") }
        var out: [UInt8] = []
        try readData { out.append(contentsOf: $0) }
        return out
    }

    /// The next entry, or nil at the end of the archive.
    public mutating func next() throws -> TarEntry? {
        try skip(remaining + padding)
        remaining = 0
        padding = 0
        var longName: String? = nil
        var longLink: String? = nil
        var pax: [String: String] = [:]
        var paxXattrs: [String: [UInt8]] = [:]
        while true {
            guard let h = try readExact(512) else { return nil }
            if h.allSatisfy({ $0 == 0 }) { return nil }
            guard verifyChecksum(h) else { throw BerthError.invalid("invalid tar header checksum") }
            let flag = h[156]
            let size = try parseNumber(h[124..<136])
            let pad = (512 - size % 512) % 512
            switch flag {
            case UInt8(ascii: "L"), UInt8(ascii: "K"):
                remaining = size; padding = pad
                let data = try readAllData(limit: 1 << 20)
                try skip(padding); remaining = 0; padding = 0
                let s = cString(data[...])
                if flag == UInt8(ascii: "L") { longName = s } else { longLink = s }
                continue
            case UInt8(ascii: "x"), UInt8(ascii: "g"):
                remaining = size; padding = pad
                let data = try readAllData(limit: 16 << 20)
                try skip(padding); remaining = 0; padding = 0
                let recs = parsePax(data, xattrs: &paxXattrs)
                if flag == UInt8(ascii: "g") { globalPax.merge(recs) { $1 } } else { pax.merge(recs) { $1 } }
                continue
            default:
                break
            }
            var name = cString(h[0..<100])
            if h[257..<262].elementsEqual("ustar".utf8) {
                let prefix = cString(h[345..<500])
                if !prefix.isEmpty { name = prefix + "/" + name }
            }
            var e = TarEntry(name: name, kind: TarEntry.kind(for: flag))
            e.mode = UInt32(truncatingIfNeeded: try parseNumber(h[100..<108]) & 0o7777)
            e.uid = Int(try parseNumber(h[108..<116]))
            e.gid = Int(try parseNumber(h[116..<124]))
            e.size = size
            e.mtime = try parseNumber(h[136..<148])
            e.linkName = cString(h[157..<257])
            e.devMajor = UInt32(truncatingIfNeeded: (try? parseNumber(h[329..<337])) ?? 0)
            e.devMinor = UInt32(truncatingIfNeeded: (try? parseNumber(h[337..<345])) ?? 0)
            let all = globalPax.merging(pax) { $1 }
            if let n = longName { e.name = n }
            if let l = longLink { e.linkName = l }
            if let p = all["path"] { e.name = p }
            if let l = all["linkpath"] { e.linkName = l }
            if let s = all["size"], let v = Int64(s) { e.size = v }
            if let s = all["uid"], let v = Int(s) { e.uid = v }
            if let s = all["gid"], let v = Int(s) { e.gid = v }
            if let s = all["mtime"], let v = Double(s) { e.mtime = Int64(v) }
            e.xattrs = paxXattrs
            // Only regular files carry data; whatever else a writer stored is skipped by next().
            remaining = e.kind == .file ? e.size : size
            padding = (512 - remaining % 512) % 512
            return e
        }
    }

    private func verifyChecksum(_ h: [UInt8]) -> Bool {
        guard let want = try? parseNumber(h[148..<156]) else { return false }
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for i in 0..<512 {
            let b = (148..<156).contains(i) ? UInt8(ascii: " ") : h[i]
            unsigned += Int64(b)
            signed += Int64(Int8(bitPattern: b))
        }
        return want == unsigned || want == signed
    }

    private func parseNumber(_ field: ArraySlice<UInt8>) throws -> Int64 {
        guard let first = field.first else { return 0 }
        if first & 0x80 != 0 {
            // base-256 (GNU) for large values
            var v: Int64 = Int64(first & 0x7f)
            for b in field.dropFirst() { v = (v << 8) | Int64(b) }
            return v
        }
        var v: Int64 = 0
        var seen = false
        for b in field {
            if b == 0 || b == UInt8(ascii: " ") { if seen { break } else { continue } }
            guard b >= UInt8(ascii: "0") && b <= UInt8(ascii: "7") else { throw BerthError.invalid("invalid number in tar header") }
            v = v * 8 + Int64(b - UInt8(ascii: "0"))
            seen = true
        }
        return v
    }

    private func cString(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix(while: { $0 != 0 }), as: UTF8.self)
    }

    private func parsePax(_ data: [UInt8], xattrs: inout [String: [UInt8]]) -> [String: String] {
        var out: [String: String] = [:]
        var i = 0
        while i < data.count {
            var j = i
            while j < data.count && data[j] != UInt8(ascii: " ") { j += 1 }
            guard j < data.count, let len = Int(String(decoding: data[i..<j], as: UTF8.self)), len > 0,
                  i + len <= data.count else { break }
            let rec = data[(j + 1)..<(i + len - 1)]
            if let eq = rec.firstIndex(of: UInt8(ascii: "=")) {
                let key = String(decoding: rec[rec.startIndex..<eq], as: UTF8.self)
                let value = Array(rec[(eq + 1)...])
                if key.hasPrefix("SCHILY.xattr.") {
                    xattrs[String(key.dropFirst("SCHILY.xattr.".count))] = value
                } else {
                    out[key] = String(decoding: value, as: UTF8.self)
                }
            }
            i += len
        }
        return out
    }
}

extension TarReader {
    /// Consumes the rest of the stream (padding after the end-of-archive blocks) and returns the source.
    public mutating func takeSource() throws -> R {
        start = end
        var scratch = [UInt8](repeating: 0, count: 65536)
        while try scratch.withUnsafeMutableBytes({ try source.read(into: $0) }) > 0 {}
        return source
    }
}
