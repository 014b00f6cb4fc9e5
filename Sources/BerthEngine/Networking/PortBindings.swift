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
        guard ["tcp", "udp", "sctp"].contains(proto), let first = parts.first, let port = UInt16(first), port > 0 else {
            throw BerthError.invalid("invalid port specification: \"\(key)\"")
        }
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
