/// The part of a DNS message (RFC 1035) the embedded resolver reads: the header and the one
/// question. Every length is checked against the datagram; a message it cannot read is refused,
/// never trapped on.
public struct DNSQuery: Sendable, Equatable {
    public var id: UInt16
    public var flags: UInt16
    /// Lower-cased, without the trailing dot.
    public var name: String
    public var type: UInt16
    public var qclass: UInt16
    /// Where the question ends (the answer copies the question as it was sent).
    public var questionEnd: Int

    public static let typeA: UInt16 = 1
    public static let typeAAAA: UInt16 = 28
    public static let typePTR: UInt16 = 12

    public init?(_ b: [UInt8]) {
        guard b.count >= 12, b.count <= 4096 else { return nil }
        id = UInt16(b[0]) << 8 | UInt16(b[1])
        flags = UInt16(b[2]) << 8 | UInt16(b[3])
        let qd = UInt16(b[4]) << 8 | UInt16(b[5])
        // A query (QR 0), standard opcode, exactly one question.
        guard flags & 0x8000 == 0, (flags >> 11) & 0xf == 0, qd == 1 else { return nil }
        var i = 12
        var labels: [String] = []
        var total = 0
        while true {
            guard i < b.count else { return nil }
            let len = Int(b[i])
            i += 1
            if len == 0 { break }
            // No compression pointers in a question; labels of at most 63 bytes, names of 255.
            guard len <= 63, i + len <= b.count else { return nil }
            total += len + 1
            guard total <= 255 else { return nil }
            labels.append(String(decoding: b[i..<i + len], as: UTF8.self).lowercased())
            i += len
        }
        guard i + 4 <= b.count else { return nil }
        type = UInt16(b[i]) << 8 | UInt16(b[i + 1])
        qclass = UInt16(b[i + 2]) << 8 | UInt16(b[i + 3])
        questionEnd = i + 4
        name = labels.joined(separator: ".")
    }

    /// An answer to this query from `request` (its raw bytes): the question echoed, `addresses`
    /// as A records (TTL 600, as dockerd), or `rcode` (3 NXDOMAIN, 2 SERVFAIL) when none.
    public func answer(_ request: [UInt8], addresses: [IPv4], rcode: UInt8 = 0) -> [UInt8] {
        answer(request, type: Self.typeA, records: addresses.map(\.bytes), rcode: rcode)
    }

    /// `addresses` as AAAA records.
    public func answer(_ request: [UInt8], addresses6: [IPv6]) -> [UInt8] {
        answer(request, type: Self.typeAAAA, records: addresses6.map(\.bytes))
    }

    /// A PTR answer naming `target` (e.g. `web.mynet`).
    public func answer(_ request: [UInt8], pointer target: String) -> [UInt8] {
        var rdata: [UInt8] = []
        for label in target.split(separator: ".") {
            let bytes = Array(label.utf8.prefix(63))
            rdata.append(UInt8(bytes.count))
            rdata += bytes
        }
        rdata.append(0)
        return answer(request, type: Self.typePTR, records: [rdata])
    }

    /// The address a reverse name (`4.3.2.1.in-addr.arpa`, or 32 nibbles and `ip6.arpa`)
    /// stands for, as text.
    public var reverseAddress: String? {
        guard type == Self.typePTR else { return nil }
        if name.hasSuffix(".in-addr.arpa") {
            let parts = name.dropLast(".in-addr.arpa".count).split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            return IPv4(parts.reversed().joined(separator: "."))?.description
        }
        if name.hasSuffix(".ip6.arpa") {
            let nibbles = name.dropLast(".ip6.arpa".count).split(separator: ".", omittingEmptySubsequences: false)
            guard nibbles.count == 32, nibbles.allSatisfy({ $0.count == 1 && $0.first!.isHexDigit }) else { return nil }
            var bytes: [UInt8] = []
            let ordered = nibbles.reversed().map { UInt8($0, radix: 16)! }
            for i in stride(from: 0, to: 32, by: 2) { bytes.append(ordered[i] << 4 | ordered[i + 1]) }
            return IPv6(bytes: bytes).description
        }
        return nil
    }

    func answer(_ request: [UInt8], type: UInt16, records: [[UInt8]], rcode: UInt8 = 0) -> [UInt8] {
        var out = Array(request[0..<questionEnd])
        // QR, opcode 0, AA, RD as asked, RA.
        let rd = flags & 0x0100
        let f: UInt16 = 0x8000 | 0x0400 | rd | 0x0080 | UInt16(records.isEmpty ? rcode : 0)
        out[2] = UInt8(f >> 8); out[3] = UInt8(f & 0xff)
        let an = UInt16(records.count)
        out[6] = UInt8(an >> 8); out[7] = UInt8(an & 0xff)
        out[8] = 0; out[9] = 0; out[10] = 0; out[11] = 0
        for r in records {
            out += [0xc0, 0x0c, UInt8(type >> 8), UInt8(type & 0xff), 0, 1, 0, 0, 0x02, 0x58, UInt8(r.count >> 8), UInt8(r.count & 0xff)] + r
        }
        return out
    }
}
