/// An IPv4 address as a number (network byte order of the dotted form).
public struct IPv4: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt32
    public init(_ value: UInt32) { self.value = value }

    /// Dotted quad; nil for anything else (no leading zeros, no shorthand, as Go's ParseIP).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }),
                  !(p.count > 1 && p.first == "0"), let n = UInt32(p), n <= 255 else { return nil }
            v = v << 8 | n
        }
        value = v
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    }
    public var bytes: [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
    public static func < (a: IPv4, b: IPv4) -> Bool { a.value < b.value }
}

/// An IPv4 network in CIDR form (`10.1.0.0/24`).
public struct Subnet: Hashable, Sendable, CustomStringConvertible {
    public let base: IPv4
    public let prefix: Int

    public init(base: IPv4, prefix: Int) {
        self.prefix = prefix
        self.base = IPv4(base.value & Self.mask(prefix))
    }

    /// `a.b.c.d/len`. `strict`: the host bits must be zero (Docker refuses `10.1.0.5/24` as a subnet).
    public init?(_ text: some StringProtocol, strict: Bool = false) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let ip = IPv4(parts[0]), parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
              parts[1].count <= 2, !(parts[1].count > 1 && parts[1].first == "0"), let len = Int(parts[1]), len <= 32 else { return nil }
        if strict && ip.value & ~Self.mask(len) != 0 { return nil }
        self.init(base: ip, prefix: len)
    }

    static func mask(_ prefix: Int) -> UInt32 { prefix == 0 ? 0 : UInt32.max << UInt32(32 - prefix) }
    public var mask: UInt32 { Self.mask(prefix) }
    public var last: IPv4 { IPv4(base.value | ~mask) }
    public var size: UInt64 { UInt64(1) << UInt64(32 - prefix) }
    public var description: String { "\(base)/\(prefix)" }

    public func contains(_ ip: IPv4) -> Bool { ip.value & mask == base.value }
    public func overlaps(_ other: Subnet) -> Bool { contains(other.base) || other.contains(base) }
    /// The first host address (Docker's default gateway).
    public var firstHost: IPv4 { IPv4(base.value + (prefix >= 31 ? 0 : 1)) }
}
