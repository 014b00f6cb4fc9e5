import BerthSystem
import Foundation

/// Where registries are and which of them may be spoken to without verified TLS.
/// Mirrors apply to Docker Hub pulls only, as in dockerd.
public struct RegistryConfig: Sendable {
    /// Base URLs (`https://mirror.example`) tried before Docker Hub for pulls.
    public var mirrors: [String]
    /// `host[:port]` names and IPv4 CIDRs whose registries may use plain HTTP or unverified TLS.
    public var insecure: [String]

    public static let hubDomain = "docker.io"
    public static let hubHost = "registry-1.docker.io"

    public init(mirrors: [String] = [], insecure: [String] = []) {
        self.mirrors = mirrors.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.insecure = ["127.0.0.0/8"] + insecure
    }

    /// One way to reach a registry: a base URL, and whether certificate checks are off.
    public struct Endpoint: Sendable, Equatable {
        public var base: String
        public var skipVerify: Bool
    }

    /// Endpoints to try, in order, for a reference's domain.
    public func endpoints(for domain: String, forPush: Bool = false) -> [Endpoint] {
        var out: [Endpoint] = []
        if domain == Self.hubDomain {
            if !forPush {
                for m in mirrors { out.append(Endpoint(base: m, skipVerify: isInsecure(host(of: m)))) }
            }
            out.append(Endpoint(base: "https://" + Self.hubHost, skipVerify: false))
            return out
        }
        if isInsecure(domain) {
            out.append(Endpoint(base: "https://" + domain, skipVerify: true))
            out.append(Endpoint(base: "http://" + domain, skipVerify: true))
        } else {
            out.append(Endpoint(base: "https://" + domain, skipVerify: false))
        }
        return out
    }

    func host(of url: String) -> String {
        URLComponents(string: url).map { c in (c.host ?? "") + (c.port.map { ":\($0)" } ?? "") } ?? url
    }

    /// True for hosts listed by name, and for IP addresses inside a listed CIDR (loopback by default).
    public func isInsecure(_ hostPort: String) -> Bool {
        if insecure.contains(hostPort) { return true }
        let host = Self.stripPort(hostPort)
        if insecure.contains(host) { return true }
        if host == "localhost" { return insecure.contains("127.0.0.0/8") }
        guard let ip = Self.ipv4(host) else { return false }
        for entry in insecure where entry.contains("/") {
            let parts = entry.split(separator: "/")
            guard parts.count == 2, let net = Self.ipv4(String(parts[0])), let bits = UInt32(parts[1]), bits <= 32 else { continue }
            let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
            if ip & mask == net & mask { return true }
        }
        return false
    }

    static func stripPort(_ s: String) -> String {
        if s.hasPrefix("[") { return String(s.dropFirst().prefix(while: { $0 != "]" })) }
        if s.filter({ $0 == ":" }).count == 1, let i = s.firstIndex(of: ":") { return String(s[..<i]) }
        return s
    }

    static func ipv4(_ s: String) -> UInt32? {
        let p = s.split(separator: ".", omittingEmptySubsequences: false)
        guard p.count == 4 else { return nil }
        var v: UInt32 = 0
        for x in p {
            guard let b = UInt8(x) else { return nil }
            v = v << 8 | UInt32(b)
        }
        return v
    }
}
