import BerthSystem

/// Writes ustar entries, adding a PAX header when a name, link or size does not fit.
public struct TarWriter<W: ByteWriter> {
    public private(set) var sink: W
    private static var zeros: [UInt8] { [UInt8](repeating: 0, count: 1024) }
    public private(set) var bytesWritten: Int64 = 0
    /// File content alone (what a layer's size counts).
    public private(set) var dataBytes: Int64 = 0

    public init(_ sink: W) { self.sink = sink }

    private mutating func emit(_ b: [UInt8]) throws {
        try b.withUnsafeBytes { try sink.write($0) }
        bytesWritten += Int64(b.count)
    }

    /// Writes the header of `entry`; for files, follow with exactly `entry.size` bytes via `writeData`
    /// and then `finishData`.
    public mutating func writeHeader(_ entry: TarEntry) throws {
        var pax: [(String, [UInt8])] = []
        let nameBytes = Array(entry.name.utf8)
        let linkBytes = Array(entry.linkName.utf8)
        var name = nameBytes
        var prefix: [UInt8] = []
        if nameBytes.count > 100 {
            if let split = splitUstar(nameBytes) { prefix = split.0; name = split.1 }
            else { pax.append(("path", nameBytes)); name = Array(nameBytes.prefix(100)) }
        }
        if linkBytes.count > 100 { pax.append(("linkpath", linkBytes)) }
        if entry.size > 0o77777777777 { pax.append(("size", Array(String(entry.size).utf8))) }
        for (k, v) in entry.xattrs.sorted(by: { $0.key < $1.key }) { pax.append(("SCHILY.xattr." + k, v)) }
        if !pax.isEmpty {
            var data: [UInt8] = []
            for (k, v) in pax { data += paxRecord(k, v) }
            var ph = TarEntry(name: "PaxHeaders/" + String(entry.name.suffix(80)), kind: .other(UInt8(ascii: "x")))
            ph.size = Int64(data.count)
            try emit(header(ph, name: Array(ph.name.utf8.prefix(100)), prefix: [], link: []))
            try emit(data)
            try pad(Int64(data.count))
        }
        try emit(header(entry, name: name, prefix: prefix, link: Array(linkBytes.prefix(100))))
    }

    public mutating func writeData(_ bytes: UnsafeRawBufferPointer) throws {
        try sink.write(bytes)
        bytesWritten += Int64(bytes.count)
        dataBytes += Int64(bytes.count)
    }

    public mutating func finishData(size: Int64) throws { try pad(size) }

    /// Convenience: an entry with in-memory content.
    public mutating func write(_ entry: TarEntry, data: [UInt8] = []) throws {
        var e = entry
        if e.kind == .file { e.size = Int64(data.count) }
        try writeHeader(e)
        if e.kind == .file && !data.isEmpty {
            try data.withUnsafeBytes { try writeData($0) }
            try pad(Int64(data.count))
        }
    }

    /// Writes the two zero blocks that end an archive.
    public mutating func finish() throws { try emit(Self.zeros) }

    private mutating func pad(_ size: Int64) throws {
        let p = Int((512 - size % 512) % 512)
        if p > 0 { try emit([UInt8](repeating: 0, count: p)) }
    }

    private func splitUstar(_ n: [UInt8]) -> ([UInt8], [UInt8])? {
        guard n.count <= 256 else { return nil }
        for i in stride(from: min(n.count - 1, 155), to: 0, by: -1) where n[i] == UInt8(ascii: "/") {
            let p = Array(n[0..<i]), rest = Array(n[(i + 1)...])
            if rest.count <= 100 && !rest.isEmpty { return (p, rest) }
        }
        return nil
    }

    private func paxRecord(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let body = Array(" \(key)=".utf8) + value + [UInt8(ascii: "\n")]
        var len = body.count + 1
        while String(len).utf8.count + body.count != len { len = String(len).utf8.count + body.count }
        return Array(String(len).utf8) + body
    }

    private func header(_ e: TarEntry, name: [UInt8], prefix: [UInt8], link: [UInt8]) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ off: Int, _ bytes: [UInt8], _ max: Int) { for (i, b) in bytes.prefix(max).enumerated() { h[off + i] = b } }
        func octal(_ off: Int, _ width: Int, _ v: Int64) {
            let s = String(v, radix: 8)
            if s.count < width {
                put(off, Array((String(repeating: "0", count: width - 1 - s.count) + s).utf8), width - 1)
            } else {
                // base-256 for values that do not fit
                var x = v
                for i in stride(from: width - 1, through: 1, by: -1) { h[off + i] = UInt8(x & 0xff); x >>= 8 }
                h[off] = 0x80
            }
        }
        put(0, name, 100)
        octal(100, 8, Int64(e.mode & 0o7777))
        octal(108, 8, Int64(e.uid))
        octal(116, 8, Int64(e.gid))
        octal(124, 12, e.kind == .file || e.kind == .other(UInt8(ascii: "x")) ? e.size : 0)
        octal(136, 12, max(0, e.mtime))
        h[156] = e.typeFlag
        put(157, link, 100)
        put(257, Array("ustar\0".utf8), 6)
        put(263, Array("00".utf8), 2)
        if e.kind == .charDevice || e.kind == .blockDevice {
            octal(329, 8, Int64(e.devMajor))
            octal(337, 8, Int64(e.devMinor))
        }
        put(345, prefix, 155)
        for i in 148..<156 { h[i] = UInt8(ascii: " ") }
        let sum = h.reduce(0) { $0 + Int64($1) }
        let cs = String(sum, radix: 8)
        put(148, Array((String(repeating: "0", count: max(0, 6 - cs.count)) + cs).utf8) + [0, UInt8(ascii: " ")], 8)
        return h
    }
}
