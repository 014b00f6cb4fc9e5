import BerthSystem

/// Streams entries out of a tar archive (ustar, GNU long names, PAX headers incl. xattrs).
/// Usage: `while let e = try r.next() { try r.readData { chunk in … } }`; unread data is skipped.
///
/// Archives come from images, registries and API clients, so every field is checked before it
/// is used: numbers must fit their range (sizes 0…`maxEntrySize`, ids 0…2³²−2), PAX records must
/// be well formed, names may not hold NUL, and the metadata headers (long names, PAX) are capped
/// at 1 MiB each (global PAX records at 1 MiB in all). A malformed archive is an
/// invalid-argument error, never a trap.
public struct TarReader<R: ByteReader> {
    /// Largest member size accepted (4 PiB): far above any real file, far below Int64 overflow.
    public static var maxEntrySize: Int64 { 1 << 52 }
    /// Largest long-name, long-link or PAX header, as Go's archive/tar allows.
    static var maxMetadataSize: Int64 { 1 << 20 }
    var source: R
    private var buffer: [UInt8]
    var start = 0
    var end = 0
    private var remaining: Int64 = 0
    private var padding: Int64 = 0
    private var globalPax: [String: String] = [:]
    private var globalPaxBytes = 0
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

    /// Skips up to `count` bytes of padding; false if the stream ended first.
    private mutating func skipPadding(_ count: Int64) throws -> Bool {
        var left = count
        while left > 0 {
            guard try fill() else { return false }
            let n = Int(min(left, Int64(end - start)))
            start += n
            position += Int64(n)
            left -= Int64(n)
        }
        return true
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
        guard remaining >= 0, remaining <= Int64(limit) else { throw BerthError.invalid("tar entry too large") }
        var out: [UInt8] = []
        try readData { out.append(contentsOf: $0) }
        return out
    }

    /// The next entry, or nil at the end of the archive.
    public mutating func next() throws -> TarEntry? {
        try skip(remaining)
        // The docker CLI sends a build context whose last entry lacks its padding and the end
        // blocks (`build -f` with a Dockerfile from outside the context): as Go's reader does,
        // an archive that ends right after an entry's data has ended.
        let atEnd = try !skipPadding(padding)
        remaining = 0
        padding = 0
        if atEnd { return nil }
        var longName: String? = nil
        var longLink: String? = nil
        var pax: [String: String] = [:]
        var paxXattrs: [String: [UInt8]] = [:]
        while true {
            guard let h = try readExact(512) else { return nil }
            if h.allSatisfy({ $0 == 0 }) { return nil }
            guard verifyChecksum(h) else { throw BerthError.invalid("invalid tar header checksum") }
            let flag = h[156]
            let size = try Self.parseNumber(h[124..<136])
            guard size >= 0, size <= Self.maxEntrySize else { throw BerthError.invalid("invalid size in tar header") }
            let pad = (512 - size % 512) % 512
            switch flag {
            case UInt8(ascii: "L"), UInt8(ascii: "K"):
                guard size <= Self.maxMetadataSize else { throw BerthError.invalid("tar long name header too large") }
                remaining = size; padding = pad
                let data = try readAllData(limit: Int(Self.maxMetadataSize))
                try skip(padding); remaining = 0; padding = 0
                let s = cString(data[...])
                if flag == UInt8(ascii: "L") { longName = s } else { longLink = s }
                continue
            case UInt8(ascii: "x"), UInt8(ascii: "g"):
                guard size <= Self.maxMetadataSize else { throw BerthError.invalid("tar PAX header too large") }
                remaining = size; padding = pad
                let data = try readAllData(limit: Int(Self.maxMetadataSize))
                try skip(padding); remaining = 0; padding = 0
                let recs = try Self.parsePax(data, xattrs: &paxXattrs)
                if flag == UInt8(ascii: "g") {
                    globalPax.merge(recs) { $1 }
                    globalPaxBytes = globalPax.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
                    guard globalPaxBytes <= Int(Self.maxMetadataSize) else { throw BerthError.invalid("tar global PAX headers too large") }
                } else { pax.merge(recs) { $1 } }
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
            let rawMode = try Self.parseNumber(h[100..<108])
            e.mode = UInt32(truncatingIfNeeded: rawMode & 0o7777)
            e.headerMode = rawMode
            e.uid = try Self.checkedID(try Self.parseNumber(h[108..<116]), "uid")
            e.gid = try Self.checkedID(try Self.parseNumber(h[116..<124]), "gid")
            e.size = size
            e.mtime = try Self.parseNumber(h[136..<148])
            e.linkName = cString(h[157..<257])
            e.devMajor = UInt32(truncatingIfNeeded: (try? Self.parseNumber(h[329..<337])) ?? 0)
            e.devMinor = UInt32(truncatingIfNeeded: (try? Self.parseNumber(h[337..<345])) ?? 0)
            let all = globalPax.merging(pax) { $1 }
            if let n = longName { e.name = n }
            if let l = longLink { e.linkName = l }
            if let p = all["path"] { e.name = p }
            if let l = all["linkpath"] { e.linkName = l }
            if let s = all["size"] {
                guard let v = Int64(s), v >= 0, v <= Self.maxEntrySize else { throw BerthError.invalid("invalid PAX size \(s.prefix(32))") }
                e.size = v
            }
            if let s = all["uid"] { e.uid = try Self.checkedID(Int64(s), "uid") }
            if let s = all["gid"] { e.gid = try Self.checkedID(Int64(s), "gid") }
            if let s = all["mtime"] { e.mtime = try Self.paxTime(s) }
            guard !e.name.utf8.contains(0), !e.linkName.utf8.contains(0) else {
                throw BerthError.invalid("tar entry name holds a NUL byte")
            }
            e.xattrs = paxXattrs
            // Only regular files carry data; whatever else a writer stored is skipped by next().
            remaining = e.kind == .file ? e.size : size
            padding = (512 - remaining % 512) % 512
            return e
        }
    }

    private func verifyChecksum(_ h: [UInt8]) -> Bool {
        guard let want = try? Self.parseNumber(h[148..<156]) else { return false }
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for i in 0..<512 {
            let b = (148..<156).contains(i) ? UInt8(ascii: " ") : h[i]
            unsigned += Int64(b)
            signed += Int64(Int8(bitPattern: b))
        }
        return want == unsigned || want == signed
    }

    /// A numeric header field: octal, or GNU base-256 (two's complement, high bit set) for
    /// values that do not fit; anything beyond Int64 is refused.
    static func parseNumber(_ field: ArraySlice<UInt8>) throws -> Int64 {
        guard let first = field.first else { return 0 }
        if first & 0x80 != 0 {
            // base-256: the first byte's top bit marks the format, the next says the sign.
            let negative = first & 0x40 != 0
            var v: UInt64 = UInt64(first & 0x7f) ^ (negative ? 0x7f : 0)
            for b in field.dropFirst() {
                guard v >> 56 == 0 else { throw BerthError.invalid("number out of range in tar header") }
                v = (v << 8) | UInt64(negative ? ~b : b)
            }
            guard v <= UInt64(Int64.max) else { throw BerthError.invalid("number out of range in tar header") }
            return negative ? -Int64(v) - 1 : Int64(v)
        }
        var v: Int64 = 0
        var seen = false
        for b in field {
            if b == 0 || b == UInt8(ascii: " ") { if seen { break } else { continue } }
            guard b >= UInt8(ascii: "0") && b <= UInt8(ascii: "7") else { throw BerthError.invalid("invalid number in tar header") }
            let (m, o1) = v.multipliedReportingOverflow(by: 8)
            let (a, o2) = m.addingReportingOverflow(Int64(b - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw BerthError.invalid("number out of range in tar header") }
            v = a
            seen = true
        }
        return v
    }

    /// A user or group id that `chown` can take (0…2³²−2; −1 means "unchanged" to the kernel).
    static func checkedID(_ v: Int64?, _ what: String) throws -> Int {
        guard let v, v >= 0, v < Int64(UInt32.max) else { throw BerthError.invalid("invalid \(what) in tar header") }
        return Int(v)
    }

    /// A PAX time, `seconds[.fraction]`, possibly negative; the fraction is dropped.
    static func paxTime(_ s: String) throws -> Int64 {
        let whole = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard let v = Int64(whole) else { throw BerthError.invalid("invalid PAX mtime \(s.prefix(32))") }
        return v
    }

    private func cString(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix(while: { $0 != 0 }), as: UTF8.self)
    }

    /// PAX records, `"<length> <key>=<value>\n"` each, where length counts the whole record.
    /// A record that does not keep to that shape makes the header invalid (as in Go's
    /// archive/tar); trailing NULs, which some writers pad with, end the list.
    static func parsePax(_ data: [UInt8], xattrs: inout [String: [UInt8]]) throws -> [String: String] {
        var out: [String: String] = [:]
        var i = 0
        while i < data.count {
            if data[i] == 0 { break }
            var j = i
            while j < data.count, j - i < 20, data[j] >= UInt8(ascii: "0"), data[j] <= UInt8(ascii: "9") { j += 1 }
            guard j > i, j < data.count, data[j] == UInt8(ascii: " "),
                  let len = Int(String(decoding: data[i..<j], as: UTF8.self)),
                  len > j - i + 1, len <= data.count - i, data[i + len - 1] == UInt8(ascii: "\n")
            else { throw BerthError.invalid("invalid PAX record in tar archive") }
            let rec = data[(j + 1)..<(i + len - 1)]
            guard let eq = rec.firstIndex(of: UInt8(ascii: "=")), eq > rec.startIndex else {
                throw BerthError.invalid("invalid PAX record in tar archive")
            }
            let keyBytes = rec[rec.startIndex..<eq]
            guard !keyBytes.contains(0) else { throw BerthError.invalid("invalid PAX record in tar archive") }
            let key = String(decoding: keyBytes, as: UTF8.self)
            let value = Array(rec[(eq + 1)...])
            if key.hasPrefix("SCHILY.xattr.") {
                xattrs[String(key.dropFirst("SCHILY.xattr.".count))] = value
            } else {
                if (key == "path" || key == "linkpath") && value.contains(0) {
                    throw BerthError.invalid("invalid PAX record in tar archive")
                }
                out[key] = String(decoding: value, as: UTF8.self)
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
