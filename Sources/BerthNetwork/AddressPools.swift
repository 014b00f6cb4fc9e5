import BerthSystem
import Foundation

/// Docker's default address pools and the choice of a subnet for a new network: the first one
/// that overlaps neither another network nor a route of the host (here: berthd's network
/// namespace), as libnetwork does.
public enum AddressPools {
    public struct Pool: Sendable, Equatable {
        public var base: Subnet
        public var size: Int
        public init(base: Subnet, size: Int) { self.base = base; self.size = size }
    }

    /// 172.17.0.0/16 … 172.31.0.0/16, then 192.168.0.0/20 … 192.168.240.0/20.
    public static let dockerDefault: [Pool] = [
        Pool(base: Subnet("172.17.0.0/16")!, size: 16), Pool(base: Subnet("172.18.0.0/15")!, size: 16),
        Pool(base: Subnet("172.20.0.0/14")!, size: 16), Pool(base: Subnet("172.24.0.0/14")!, size: 16),
        Pool(base: Subnet("172.28.0.0/14")!, size: 16), Pool(base: Subnet("192.168.0.0/16")!, size: 20),
    ]

    /// Parses `base=10.10.0.0/16,size=24` (`--default-address-pool`).
    public static func parse(_ text: String) -> Pool? {
        var base: Subnet? = nil
        var size: Int? = nil
        for kv in text.split(separator: ",") {
            let p = kv.split(separator: "=", maxSplits: 1)
            guard p.count == 2 else { return nil }
            switch p[0] {
            case "base": base = Subnet(p[1])
            case "size": size = Int(p[1])
            default: return nil
            }
        }
        guard let base, let size, size >= base.prefix, size <= 30 else { return nil }
        return Pool(base: base, size: size)
    }

    /// The first subnet of `pools` that overlaps nothing in `taken`.
    public static func choose(from pools: [Pool], avoiding taken: [Subnet]) -> Subnet? {
        for pool in pools {
            let count = UInt64(1) << UInt64(pool.size - pool.base.prefix)
            let step = UInt64(1) << UInt64(32 - pool.size)
            var i: UInt64 = 0
            while i < count {
                let start = UInt64(pool.base.base.value) + i * step
                let candidate = Subnet(base: IPv4(UInt32(truncatingIfNeeded: start)), prefix: pool.size)
                guard let hit = taken.first(where: { $0.overlaps(candidate) }) else { return candidate }
                // Past whatever was in the way (a large route skips many candidates at once).
                let end = max(UInt64(hit.last.value), UInt64(candidate.last.value)) + 1
                i = (end - UInt64(pool.base.base.value) + step - 1) / step
            }
        }
        return nil
    }

    /// The IPv4 routes of this network namespace (`/proc/net/route`), default route excluded, and
    /// routes through `excluding` (Berth's own bridges: their subnets are known from the store, and
    /// a bridge left from an earlier life must not push the default network off its subnet).
    public static func hostRoutes(_ text: String? = FS.readText("/proc/net/route"),
                                  excluding: Set<String> = []) -> [Subnet] {
        guard let text else { return [] }
        var out: [Subnet] = []
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard f.count >= 8, !excluding.contains(String(f[0])), let dst = UInt32(f[1], radix: 16), let mask = UInt32(f[7], radix: 16), mask != 0 else { continue }
            // The file holds them in host (little-endian) order.
            let d = dst.byteSwapped, m = mask.byteSwapped
            out.append(Subnet(base: IPv4(d), prefix: m.nonzeroBitCount))
        }
        return out
    }
}

/// Address allocation within one network: the first free address of the range, skipping the
/// network and broadcast addresses and the gateway.
public enum IPAM {
    public static func pick(subnet: Subnet, range: Subnet?, gateway: IPv4?, used: Set<String>) -> IPv4? {
        let pool = range ?? subnet
        var v = UInt64(pool.base.value)
        let end = UInt64(pool.last.value)
        while v <= end {
            let ip = IPv4(UInt32(v))
            v += 1
            if subnet.prefix < 31 && (ip == subnet.base || ip == subnet.last) { continue }
            if ip == gateway || used.contains(ip.description) { continue }
            return ip
        }
        return nil
    }

    /// Docker's MAC for an address: 02:42 then the four bytes of the IPv4 address.
    public static func mac(for ip: IPv4) -> String {
        (["02", "42"] + ip.bytes.map { String(format: "%02x", $0) }).joined(separator: ":")
    }
}
