import BerthModels
import BerthNetwork
import BerthSystem

/// `HostConfig.PortBindings` (and `-P` with the image's EXPOSE) read into the mappings to
/// program, with host ports still to choose where none was given.
struct PortRequest: Sendable, Hashable {
    var proto: String
    var containerPort: UInt16
    var hostIP: IPv4?
    /// The host ports allowed: one, a range, or the ephemeral range when none was given.
    var hostPorts: ClosedRange<UInt16>
    var key: String { "\(containerPort)/\(proto)" }

    /// dockerd's ephemeral range for published ports without a host port.
    static let ephemeral: ClosedRange<UInt16> = 49153...60999

    /// `80`, `80/tcp`, `53/udp` → (port, proto).
    static func parseKey(_ key: String) throws -> (UInt16, String) {
        let parts = key.split(separator: "/", maxSplits: 1)
        let proto = parts.count == 2 ? String(parts[1]).lowercased() : "tcp"
        let first = String(parts.first ?? "")
        guard let port = UInt16(first), port > 0 else { throw BerthError.invalid("invalid port specification: \"\(first)\"") }
        guard ["tcp", "udp", "sctp"].contains(proto) else { throw BerthError.invalid("invalid proto: \(proto)") }
        return (port, proto)
    }

    static func parseHostPorts(_ s: String) throws -> ClosedRange<UInt16> {
        if s.isEmpty || s == "0" { return ephemeral }
        let parts = s.split(separator: "-", maxSplits: 1)
        guard let lo = parts.first.flatMap({ UInt16($0) }), lo > 0 else { throw BerthError.invalid("invalid port specification: \"\(s)\"") }
        let hi = parts.count == 2 ? UInt16(parts[1]) : lo
        guard let hi, hi >= lo else { throw BerthError.invalid("invalid port specification: \"\(s)\"") }
        return lo...hi
    }

    /// Everything the container publishes: its bindings, and with `PublishAllPorts` each
    /// exposed port not bound otherwise on an ephemeral host port.
    static func requests(_ hc: HostConfig, exposed: [String: EmptyObject]?) throws -> [PortRequest] {
        var out: [PortRequest] = []
        var bound = Set<String>()
        for (key, list) in (hc.PortBindings ?? [:]).sorted(by: { $0.key < $1.key }) {
            let (port, proto) = try parseKey(key)
            bound.insert("\(port)/\(proto)")
            for b in list ?? [] {
                var ip: IPv4? = nil
                if !b.HostIp.isEmpty && b.HostIp != "0.0.0.0" {
                    if b.HostIp == "::" || b.HostIp.contains(":") { continue } // IPv6 publishing: not yet
                    guard let a = IPv4(b.HostIp) else { throw BerthError.invalid("invalid IP address: \(b.HostIp)") }
                    ip = a
                }
                out.append(PortRequest(proto: proto, containerPort: port, hostIP: ip, hostPorts: try parseHostPorts(b.HostPort)))
            }
        }
        if hc.PublishAllPorts == true {
            for key in (exposed ?? [:]).keys.sorted() {
                let (port, proto) = try parseKey(key)
                if bound.contains("\(port)/\(proto)") { continue }
                out.append(PortRequest(proto: proto, containerPort: port, hostIP: nil, hostPorts: ephemeral))
            }
        }
        return out
    }

    /// `NetworkSettings.Ports` of a running container: every exposed or published port, with
    /// its host bindings (null for one exposed only).
    static func settings(published: [PortMapping], exposed: [String: EmptyObject]?) -> [String: [PortBinding]?] {
        var out: [String: [PortBinding]?] = [:]
        for k in (exposed ?? [:]).keys {
            if let (p, proto) = try? parseKey(k) { out["\(p)/\(proto)"] = .some(nil) }
        }
        for m in published {
            let key = "\(m.containerPort)/\(m.proto)"
            var list = (out[key] ?? nil) ?? []
            list.append(PortBinding(HostIp: m.hostIP?.description ?? "0.0.0.0", HostPort: String(m.hostPort)))
            if m.containerIP6 != nil { list.append(PortBinding(HostIp: "::", HostPort: String(m.hostPort))) }
            out[key] = list
        }
        return out
    }

    /// The rows of a container summary's `Ports`, from its NetworkSettings.Ports.
    static func summary(_ ports: [String: [PortBinding]?]) -> [PortSummary] {
        var out: [PortSummary] = []
        for (key, list) in ports {
            guard let (p, proto) = try? parseKey(key) else { continue }
            if let list, !list.isEmpty {
                for b in list { out.append(PortSummary(IP: b.HostIp, PrivatePort: Int(p), PublicPort: Int(b.HostPort), Type: proto)) }
            } else {
                out.append(PortSummary(IP: nil, PrivatePort: Int(p), PublicPort: nil, Type: proto))
            }
        }
        return out.sorted { ($0.PrivatePort, $0.PublicPort ?? 0) < ($1.PrivatePort, $1.PublicPort ?? 0) }
    }
}

/// The host ports published by running containers (kept by the NetworkService actor, rebuilt at
/// start from the containers' recorded ports). Every check is O(1): a port taken on any address
/// blocks it on each address, and one taken on some address blocks it on all of them.
struct PortBook: Sendable {
    private var onAny = Set<String>()
    private var onAddress = Set<String>()
    /// How many addresses have a given proto:port (for the any-address check).
    private var addressCount: [String: Int] = [:]

    private static func key(_ proto: String, _ port: UInt16) -> String { "\(proto):\(port)" }

    func isFree(_ proto: String, _ ip: IPv4?, _ port: UInt16) -> Bool {
        let k = Self.key(proto, port)
        if onAny.contains(k) { return false }
        if let ip { return !onAddress.contains("\(ip)/\(k)") }
        return (addressCount[k] ?? 0) == 0
    }

    mutating func take(_ m: PortMapping) {
        let k = Self.key(m.proto, m.hostPort)
        guard let ip = m.hostIP else { onAny.insert(k); return }
        if onAddress.insert("\(ip)/\(k)").inserted { addressCount[k, default: 0] += 1 }
    }

    mutating func give(_ m: PortMapping) {
        let k = Self.key(m.proto, m.hostPort)
        guard let ip = m.hostIP else { onAny.remove(k); return }
        if onAddress.remove("\(ip)/\(k)") != nil {
            addressCount[k, default: 1] -= 1
            if addressCount[k] == 0 { addressCount[k] = nil }
        }
    }
}
