import BerthModels
import BerthNetwork
import BerthStore
import BerthSystem
import Foundation

/// `--link target[:alias]`: on the default bridge, dockerd's legacy links (an /etc/hosts line
/// and `ALIAS_…` variables describing the target's address, ports and environment); on a user
/// network, a DNS alias only the linking container sees (its endpoint's `Links`).
enum LegacyLinks {
    struct Link: Equatable {
        var target: String
        var alias: String
    }

    static func parse(_ s: String) throws -> Link {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        // Inspect shows links as `/target:/container/alias`; they come back in that form too.
        func strip(_ p: String) -> String { p.hasPrefix("/") ? String(p.dropFirst()) : p }
        guard parts.count <= 2, let first = parts.first, !first.isEmpty, parts.count == 1 || !parts[1].isEmpty else {
            throw BerthError.system("bad format for links: \(s)")
        }
        let target = strip(first)
        let alias = parts.count == 2 ? String(strip(parts[1]).split(separator: "/").last ?? "") : target
        guard !target.isEmpty, !alias.isEmpty else { throw BerthError.system("bad format for links: \(s)") }
        return Link(target: target, alias: alias)
    }

    /// At create: each link parses and names a container; `host` networking takes none.
    static func check(_ hc: HostConfig, store: Store) throws {
        guard let links = hc.Links, !links.isEmpty else { return }
        if hc.NetworkMode == "host" {
            throw BerthError.invalid("conflicting options: host type networking can't be used with links. This would result in undefined behavior")
        }
        for l in links {
            let link = try parse(l)
            do { _ = try ContainerLookup.resolve(store, link.target) } catch let e as BerthError where e.kind == .notFound {
                throw BerthError.invalid("could not get container for \(link.target): \(e.message)")
            }
        }
    }

    /// The form inspect shows: `/target:/container/alias`.
    static func normalized(_ links: [String], containerName: String) -> [String] {
        links.map { l in
            guard let link = try? parse(l) else { return l }
            return "/\(link.target):/\(containerName)/\(link.alias)"
        }
    }

    /// What a start on the default bridge gets from the links: /etc/hosts lines and variables.
    /// A target that is not running (or has no address on the bridge) fails the start.
    static func resolve(_ hc: HostConfig, containerName: String, bridge: NetworkRecord, store: Store) throws -> (hosts: [String], env: [String]) {
        var hosts: [String] = []
        var env: [String] = []
        for l in hc.Links ?? [] {
            let link = try parse(l)
            let target = try ContainerLookup.resolve(store, link.target)
            guard ContainerStatus(stored: target.status).hasProcess,
                  let ip = try store.endpoints(container: target.id).first(where: { $0.network_id == bridge.id && !$0.ip.isEmpty })?.ip else {
                throw BerthError.system("Cannot link to a non running container: /\(target.name) AS /\(containerName)/\(link.alias)")
            }
            let config = (try? JSONDecoder().decode(ContainerConfig.self, from: target.config)) ?? ContainerConfig()
            let hostname = config.Hostname.flatMap { $0.isEmpty ? nil : $0 } ?? String(target.id.prefix(12))
            var names = [link.alias]
            if hostname != link.alias { names.append(hostname) }
            if target.name != link.alias { names.append(target.name) }
            hosts.append(ip + "\t" + names.joined(separator: " "))
            env += variables(alias: link.alias, parent: containerName, ip: ip, exposed: config.ExposedPorts ?? [:], env: config.Env ?? [])
        }
        return (hosts, env)
    }

    /// dockerd's link variables: `ALIAS_NAME`, `ALIAS_PORT` (the lowest port), per port
    /// `ALIAS_PORT_80_TCP{,_ADDR,_PORT,_PROTO}`, for runs of consecutive ports `…_START`/`…_END`
    /// on the run's first port, and `ALIAS_ENV_X` for the target's variables (not HOME or PATH).
    static func variables(alias: String, parent: String, ip: String, exposed: [String: EmptyObject], env: [String]) -> [String] {
        let prefix = String(alias.uppercased().map { $0 == "-" ? "_" : $0 })
        var out = ["\(prefix)_NAME=/\(parent)/\(alias)"]
        let ports = exposed.keys.compactMap { key -> (port: Int, proto: String)? in
            let p = key.split(separator: "/")
            guard let n = Int(p.first ?? "") else { return nil }
            return (n, p.count > 1 ? String(p[1]) : "tcp")
        }.sorted { ($0.port, $0.proto) < ($1.port, $1.proto) }
        if let first = ports.first { out.append("\(prefix)_PORT=\(first.proto)://\(ip):\(first.port)") }
        var i = 0
        while i < ports.count {
            var j = i
            while j + 1 < ports.count, ports[j + 1].proto == ports[i].proto, ports[j + 1].port == ports[j].port + 1 { j += 1 }
            if j > i {
                let (s, e, proto) = (ports[i].port, ports[j].port, ports[i].proto)
                let key = "\(prefix)_PORT_\(s)_\(proto.uppercased())"
                out += ["\(key)_START=\(proto)://\(ip):\(s)", "\(key)_PORT_START=\(s)", "\(key)_END=\(proto)://\(ip):\(e)", "\(key)_PORT_END=\(e)"]
            }
            i = j + 1
        }
        for p in ports {
            let key = "\(prefix)_PORT_\(p.port)_\(p.proto.uppercased())"
            out += ["\(key)=\(p.proto)://\(ip):\(p.port)", "\(key)_ADDR=\(ip)", "\(key)_PORT=\(p.port)", "\(key)_PROTO=\(p.proto)"]
        }
        for v in env {
            guard let eq = v.firstIndex(of: "=") else { continue }
            let name = v[..<eq]
            if name == "HOME" || name == "PATH" { continue }
            out.append("\(prefix)_ENV_\(name)=\(v[v.index(after: eq)...])")
        }
        return out
    }
}
