#if canImport(Glibc)
import Glibc
#endif

/// An IPv6 address as two 64-bit halves (network byte order of the text form).
public struct IPv6: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var hi: UInt64
    public var lo: UInt64
    public init(hi: UInt64, lo: UInt64) { self.hi = hi; self.lo = lo }

    /// The text form (RFC 4291, as inet_pton takes it); nil for anything else, IPv4 included.
    public init?(_ text: some StringProtocol) {
        let s = String(text)
        guard s.contains(":"), s.utf8.count <= 45, !s.contains("%") else { return nil }
        var a = in6_addr()
        guard inet_pton(AF_INET6, s, &a) == 1 else { return nil }
        self.init(bytes: withUnsafeBytes(of: &a) { Array($0) })
    }

    public init(bytes b: [UInt8]) {
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<8 { h = h << 8 | UInt64(b[i]) }
        for i in 8..<16 { l = l << 8 | UInt64(b[i]) }
        hi = h; lo = l
    }

    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: hi >> (56 - 8 * UInt64($0))) } + (0..<8).map { UInt8(truncatingIfNeeded: lo >> (56 - 8 * UInt64($0))) }
    }

    /// The canonical form (RFC 5952: lower case, the longest run of zeros compressed).
    public var description: String {
        var a = in6_addr()
        let b = bytes
        withUnsafeMutableBytes(of: &a) { p in for i in 0..<16 { p[i] = b[i] } }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count)) != nil else { return "::" }
        return String(cString: buf)
    }

    public static func < (a: IPv6, b: IPv6) -> Bool { (a.hi, a.lo) < (b.hi, b.lo) }

    /// This address plus `n` (carrying into the upper half).
    public func adding(_ n: UInt64) -> IPv6 {
        let (l, overflow) = lo.addingReportingOverflow(n)
        return IPv6(hi: overflow ? hi &+ 1 : hi, lo: l)
    }
}

/// An IPv6 network in CIDR form (`fd00:1::/64`).
public struct Subnet6: Hashable, Sendable, CustomStringConvertible {
    public let base: IPv6
    public let prefix: Int

    /// `strict`: the address must be the network's first (no host bits), as `--subnet` wants.
    public init?(_ text: some StringProtocol, strict: Bool = false) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPv6(parts[0]), parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
              !(parts[1].count > 1 && parts[1].first == "0"),
              let p = Int(parts[1]), p <= 128 else { return nil }
        let masked = Self.mask(a, p)
        if strict && masked != a { return nil }
        base = masked; prefix = p
    }

    public init(base: IPv6, prefix: Int) { self.base = Self.mask(base, prefix); self.prefix = prefix }

    static func mask(_ a: IPv6, _ p: Int) -> IPv6 {
        let hiMask: UInt64 = p >= 64 ? ~0 : (p == 0 ? 0 : ~0 << UInt64(64 - p))
        let loMask: UInt64 = p <= 64 ? 0 : (p == 128 ? ~0 : ~0 << UInt64(128 - p))
        return IPv6(hi: a.hi & hiMask, lo: a.lo & loMask)
    }

    public func contains(_ a: IPv6) -> Bool { Self.mask(a, prefix) == base }
    public func overlaps(_ o: Subnet6) -> Bool { contains(o.base) || o.contains(base) }
    public var firstHost: IPv6 { base.adding(1) }
    public var description: String { "\(base)/\(prefix)" }

    /// The first address after `gateway` that is not in `used` (IPv6 subnets are large: the
    /// search is bounded by what is taken, not by the subnet).
    public func pick(gateway: IPv6, used: Set<String>) -> IPv6? {
        var a = base.adding(1)
        for _ in 0...(used.count + 2) {
            if contains(a), a != gateway, !used.contains(a.description) { return a }
            a = a.adding(1)
        }
        return nil
    }

    /// A unique local /64 (RFC 4193: fd00::/8 and a random 40-bit global id), for an IPv6
    /// network created without a subnet.
    public static func randomULA() -> Subnet6 {
        let globalID = UInt64.random(in: 0..<(1 << 40))
        return Subnet6(base: IPv6(hi: 0xfd << 56 | globalID << 16, lo: 0), prefix: 64)
    }
}
