import BerthArchive
import BerthSystem
import Foundation
import Testing

/// Malformed tar headers are invalid-argument errors, never traps or runaway reads.
@Suite struct HostileTarTests {
    /// A 512-byte ustar header with `fields` laid in raw and a correct checksum.
    static func header(name: String = "f", type: UInt8 = UInt8(ascii: "0"), size: [UInt8] = Array("00000000000\0".utf8),
                       uid: [UInt8] = Array("0000000\0".utf8)) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        for (i, b) in name.utf8.prefix(100).enumerated() { h[i] = b }
        for (i, b) in Array("0000644\0".utf8).enumerated() { h[100 + i] = b }
        for (i, b) in uid.prefix(8).enumerated() { h[108 + i] = b }
        for (i, b) in Array("0000000\0".utf8).enumerated() { h[116 + i] = b }
        for (i, b) in size.prefix(12).enumerated() { h[124 + i] = b }
        for (i, b) in Array("00000000000\0".utf8).enumerated() { h[136 + i] = b }
        h[156] = type
        for (i, b) in Array("ustar\u{0}00".utf8).enumerated() { h[257 + i] = b }
        for i in 148..<156 { h[i] = UInt8(ascii: " ") }
        let sum = h.reduce(0) { $0 + Int($1) }
        for (i, b) in Array(String(format: "%06o\0 ", sum).utf8).enumerated() { h[148 + i] = b }
        return h
    }

    /// One well-formed PAX record (its length counts itself).
    static func record(_ key: String, _ value: String) -> String {
        let body = " \(key)=\(value)\n"
        var len = body.utf8.count + 1
        while String(len).count + body.utf8.count != len { len += 1 }
        return "\(len)\(body)"
    }

    static func padded(_ data: [UInt8]) -> [UInt8] { data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512) }

    /// A PAX header carrying `records` verbatim, then a small file.
    static func withPax(_ records: String, type: UInt8 = UInt8(ascii: "x")) -> [UInt8] {
        let body = Array(records.utf8)
        return header(name: "pax", type: type, size: Array(String(format: "%011o\0", body.count).utf8)) + padded(body)
            + header(name: "f", size: Array("00000000001\0".utf8)) + padded([0x41]) + [UInt8](repeating: 0, count: 1024)
    }

    /// Reads the whole archive as an extraction would.
    static func readAll(_ bytes: [UInt8]) throws -> [TarEntry] {
        var r = TarReader(MemoryReader(bytes))
        var out: [TarEntry] = []
        while let e = try r.next() {
            try r.readData { _ in }
            out.append(e)
        }
        return out
    }

    static func expectInvalid(_ bytes: [UInt8]) {
        do { _ = try readAll(bytes); Issue.record("accepted") }
        catch let e as BerthError { #expect(e.kind == .invalidArgument) }
        catch { Issue.record("unexpected \(error)") }
    }

    @Test func negativeBase256Size() {
        Self.expectInvalid(Self.header(size: [0xff] + [UInt8](repeating: 0xff, count: 11)))
    }

    @Test func hugeBase256Size() {
        Self.expectInvalid(Self.header(size: [0x80, 0x00, 0x00, 0x00, 0x7f] + [UInt8](repeating: 0xff, count: 7)))
        Self.expectInvalid(Self.header(size: [0x80] + [UInt8](repeating: 0xff, count: 11)))
    }

    @Test func base256SizeThatFitsIsRead() throws {
        // 5 bytes in base-256 then EOF: a correct size, a short archive.
        let h = Self.header(size: [0x80] + [UInt8](repeating: 0, count: 10) + [5])
        var r = TarReader(MemoryReader(h + Self.padded(Array("hello".utf8))))
        let e = try r.next()
        #expect(e?.size == 5)
        #expect(try r.readAllData() == Array("hello".utf8))
    }

    @Test func outOfRangeUID() {
        Self.expectInvalid(Self.header(uid: [0x80, 0, 0, 1, 0, 0, 0, 0]))
        Self.expectInvalid(Self.withPax(Self.record("uid", "99999999999")))
    }

    @Test(arguments: [
        "5 path=aaaa\n",               // length shorter than the record
        "99 path=aaaa\n",              // length past the end
        "0 path=a\n",                  // zero
        "x path=a\n",                  // not a number
        "13 path=aaaa ",               // no newline at the end
        record("", "value"),           // empty key
        record("mtime", "1e30"),       // not an integer time
        record("mtime", "99999999999999999999"),
        record("size", "-1000000"),    // negative size
        record("size", "99999999999999999999"),  // past Int64
        record("uid", "-1"),           // negative uid
        record("path", "a\u{0}bc"),    // NUL in a path
    ])
    func malformedPax(_ record: String) {
        Self.expectInvalid(Self.withPax(record))
    }

    @Test func wellFormedPaxIsApplied() throws {
        let rec = Self.record("path", "long/name") + Self.record("mtime", "1234.5678")
        let entries = try Self.readAll(Self.withPax(rec))
        #expect(entries.count == 1)
        #expect(entries[0].name == "long/name" && entries[0].mtime == 1234)
    }

    @Test func globalPaxCannotGrowWithoutBound() {
        var bytes: [UInt8] = []
        for i in 0..<3 {
            let value = String(repeating: "v", count: 600_000)
            let body = "k\(i)=" + value + "\n"
            var len = body.utf8.count + 8
            len = body.utf8.count + String(len).count + 1
            bytes += Self.header(name: "g", type: UInt8(ascii: "g"), size: Array(String(format: "%011o\0", len).utf8))
            bytes += Self.padded(Array("\(len) \(body)".utf8))
        }
        Self.expectInvalid(bytes + [UInt8](repeating: 0, count: 1024))
    }

    @Test func oversizedLongName() {
        Self.expectInvalid(Self.header(name: "././@LongLink", type: UInt8(ascii: "L"), size: Array("77777777777\0".utf8)))
    }
}
