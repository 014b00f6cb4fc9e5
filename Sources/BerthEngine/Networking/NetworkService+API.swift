import BerthModels
import BerthNetwork
import BerthStore
import BerthSystem
import Foundation

extension NetworkService {
    static let validName = try! NSRegularExpression(pattern: "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
    static let validInterface = try! NSRegularExpression(pattern: "^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$")

    static func matches(_ re: NSRegularExpression, _ s: String) -> Bool {
        re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    // MARK: create

    public func create(_ req: NetworkCreateRequest) async throws -> NetworkCreateResponse {
        let name = req.Name
        guard !name.isEmpty, Self.matches(Self.validName, name) else {
            throw BerthError.invalid("invalid network name \"\(name)\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        }
        if Self.predefined.contains(name) {
            throw BerthError(.forbidden, "operation is not permitted on predefined \(name) network ")
        }
        let driver = req.Driver ?? ""
        switch driver {
        case "", "bridge": break
        case "host", "null": throw BerthError(.forbidden, "only one instance of \"\(driver)\" network is allowed")
        default: throw BerthError.notFound("plugin \"\(driver)\" not found")
        }
        if try store.network(named: name) != nil { throw BerthError.conflict("network with name \(name) already exists") }
        let options = req.Options ?? [:]
        let id = Identifier.random64()
        let bridge = options["com.docker.network.bridge.name"] ?? "br-" + id.prefix(12)
        guard Self.matches(Self.validInterface, bridge) else { throw BerthError.invalid("invalid bridge name: \(bridge)") }
        if try store.allNetworks().contains(where: { $0.bridge == bridge }) {
            throw BerthError.conflict("bridge name \(bridge) is already used by another network")
        }

        // The IPv4 pool: the one asked for (checked), or the first free default pool.
        let others = try store.allNetworks().compactMap { Subnet($0.subnet) }
        var ipam = req.IPAM ?? IPAM()
        if (ipam.Driver ?? "default").isEmpty { ipam.Driver = "default" }
        guard ipam.Driver == "default" else { throw BerthError.notFound("plugin \"\(ipam.Driver!)\" not found") }
        var configs = ipam.Config ?? []
        let v4Index = configs.firstIndex { ($0.Subnet ?? "").contains(".") || ($0.Subnet == nil && $0.IPRange == nil) }
        var subnet: Subnet
        var gateway: IPv4
        var range: Subnet? = nil
        if let i = v4Index, let text = configs[i].Subnet, !text.isEmpty {
            guard let s = Subnet(text, strict: true) else { throw BerthError.invalid("invalid subnet \(text) : invalid CIDR address: \(text)") }
            if others.contains(where: { $0.overlaps(s) }) {
                throw BerthError(.forbidden, "Pool overlaps with other one on this address space")
            }
            subnet = s
            if let g = configs[i].Gateway, !g.isEmpty {
                guard let gw = IPv4(g), s.contains(gw) else { throw BerthError.invalid("no matching subnet for gateway \(g)") }
                gateway = gw
            } else { gateway = s.firstHost }
            if let r = configs[i].IPRange, !r.isEmpty {
                guard let rs = Subnet(r, strict: true), s.contains(rs.base), s.contains(rs.last) else {
                    throw BerthError.invalid("no matching subnet for range \(r)")
                }
                range = rs
            }
            configs[i].Gateway = gateway.description
        } else {
            let ours = Set(try store.allNetworks().map(\.bridge).filter { !$0.isEmpty })
            guard let s = AddressPools.choose(from: config.pools, avoiding: AddressPools.hostRoutes(excluding: ours) + others) else {
                throw BerthError.system("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
            }
            subnet = s; gateway = s.firstHost
            let c = IPAMConfig(Subnet: s.description, Gateway: gateway.description)
            if let i = v4Index { configs[i] = c } else { configs.insert(c, at: 0) }
        }
        // IPv6, when asked for: the subnet given (checked), or a unique local /64 of its own.
        var subnet6: Subnet6? = nil
        var gateway6: IPv6? = nil
        if req.EnableIPv6 == true {
            let others6 = try store.allNetworks().compactMap { Subnet6($0.subnet6) }
            if let i = configs.firstIndex(where: { ($0.Subnet ?? "").contains(":") }), let text = configs[i].Subnet {
                guard let s = Subnet6(text, strict: true), s.prefix <= 120 else {
                    throw BerthError.invalid("invalid subnet \(text) : invalid CIDR address: \(text)")
                }
                if others6.contains(where: { $0.overlaps(s) }) { throw BerthError(.forbidden, "Pool overlaps with other one on this address space") }
                subnet6 = s
                if let g = configs[i].Gateway, !g.isEmpty {
                    guard let gw = IPv6(g), s.contains(gw) else { throw BerthError.invalid("no matching subnet for gateway \(g)") }
                    gateway6 = gw
                } else { gateway6 = s.firstHost }
                configs[i].Gateway = gateway6?.description
            } else {
                var s = Subnet6.randomULA()
                while others6.contains(where: { $0.overlaps(s) }) { s = Subnet6.randomULA() }
                subnet6 = s; gateway6 = s.firstHost
                configs.append(IPAMConfig(Subnet: s.description, Gateway: s.firstHost.description))
            }
        } else {
            // IPv6 subnets of a network without IPv6 are left out (as dockerd gives them no use).
            configs.removeAll { ($0.Subnet ?? "").contains(":") }
        }
        ipam.Config = configs
        if ipam.Options == nil { ipam.Options = [:] }

        let enc = JSONEncoder()
        let rec = NetworkRecord(id: id, name: name, driver: "bridge", created: Timestamp.nowNanos(), bridge: bridge,
                                subnet: subnet.description, gateway: gateway.description, ip_range: range?.description ?? "",
                                internal: req.Internal ?? false, ipv6: req.EnableIPv6 ?? false, attachable: req.Attachable ?? false,
                                ipam: try enc.encode(ipam), options: String(decoding: try enc.encode(options), as: UTF8.self),
                                labels: String(decoding: try enc.encode(req.Labels ?? [:]), as: UTF8.self),
                                subnet6: subnet6?.description ?? "", gateway6: gateway6?.description ?? "")
        try store.insertNetwork(rec)
        do {
            try await ensureTable()
            if let spec = bridgeSpec(rec) { try await host.addBridge(spec) }
        } catch {
            try? store.deleteNetwork(id) { _ in BerthError.conflict("in use") }
            throw error
        }
        emit("create", rec)
        return NetworkCreateResponse(Id: id, Warning: "")
    }

    // MARK: read

    public nonisolated func inspect(_ ref: String) throws -> NetworkResource {
        try resource(resolve(ref), withContainers: true)
    }

    public nonisolated func list(filters: Filters) throws -> [NetworkResource] {
        try filters.validate(["name", "id", "driver", "label", "type", "scope", "dangling"])
        var out: [NetworkResource] = []
        let used = Set(try store.allEndpoints().map(\.network_id))
        for n in try store.allNetworks() {
            if filters.has("name") && !filters["name"].contains(where: { n.name.contains($0) }) { continue }
            if filters.has("id") && !filters["id"].contains(where: { n.id.hasPrefix($0) }) { continue }
            if filters.has("driver") && !filters["driver"].contains(n.driver) { continue }
            if filters.has("scope") && !filters["scope"].contains("local") { continue }
            if filters.has("type") {
                let t = isUserDefined(n) ? "custom" : "builtin"
                if !filters["type"].contains(t) { continue }
            }
            if filters.has("label") && !Filters.labelsMatch(filters["label"], labels(n)) { continue }
            if filters.has("dangling") {
                let wantDangling = filters["dangling"].contains { $0 == "true" || $0 == "1" }
                let dangling = isUserDefined(n) && !used.contains(n.id)
                if dangling != wantDangling { continue }
            }
            out.append(try resource(n, withContainers: false))
        }
        return out
    }

    nonisolated func labels(_ n: NetworkRecord) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(n.labels.utf8))) ?? [:]
    }

    nonisolated func resource(_ n: NetworkRecord, withContainers: Bool) throws -> NetworkResource {
        let dec = JSONDecoder()
        var containers: [String: NetworkContainer] = [:]
        if withContainers, let s = Subnet(n.subnet) {
            for e in try store.endpoints(network: n.id) where !e.ip.isEmpty {
                let name = (try? store.container(e.container_id))?.name ?? ""
                let v6 = Subnet6(n.subnet6).map { e.ip6.isEmpty ? "" : "\(e.ip6)/\($0.prefix)" } ?? ""
                containers[e.container_id] = NetworkContainer(Name: name, EndpointID: e.endpoint_id, MacAddress: e.mac,
                                                              IPv4Address: "\(e.ip)/\(s.prefix)", IPv6Address: v6)
            }
        }
        let ipam = (try? dec.decode(IPAM.self, from: n.ipam)) ?? IPAM()
        return NetworkResource(Name: n.name, Id: n.id, Created: Timestamp.rfc3339(nanos: n.created), Driver: n.driver,
                               EnableIPv6: n.ipv6, IPAM: ipam, Internal: n.internal, Attachable: n.attachable,
                               Containers: containers,
                               Options: (try? dec.decode([String: String].self, from: Data(n.options.utf8))) ?? [:],
                               Labels: labels(n))
    }

    // MARK: remove

    public func remove(_ ref: String) async throws {
        let n = try resolve(ref)
        if !isUserDefined(n) { throw BerthError(.forbidden, "\(n.name) is a pre-defined network and cannot be removed") }
        let active = try store.endpoints(network: n.id).filter { !$0.ip.isEmpty }
        if !active.isEmpty {
            throw BerthError.conflict("error while removing network: network \(n.name) id \(n.id) has active endpoints")
        }
        // Stopped containers lose their membership (and fail to start, as with dockerd).
        for e in try store.endpoints(network: n.id) { try store.deleteEndpoint(container: e.container_id, network: n.id) }
        try store.deleteNetwork(n.id) { _ in
            BerthError.conflict("error while removing network: network \(n.name) id \(n.id) has active endpoints")
        }
        if let spec = bridgeSpec(n) { await host.removeBridge(spec) }
        emit("destroy", n)
    }

    public func prune(filters: Filters) async throws -> NetworkPruneResponse {
        try filters.validate(["until", "label", "label!"])
        let until = filters["until"].first.flatMap(Timestamp.parseDockerTime)
        var deleted: [String] = []
        for n in try store.allNetworks() where isUserDefined(n) {
            if let until, n.created >= until { continue }
            if filters.has("label") && !Filters.labelsMatch(filters["label"], labels(n)) { continue }
            if filters.has("label!") && Filters.labelsMatch(filters["label!"], labels(n)) { continue }
            if !(try store.endpoints(network: n.id)).isEmpty { continue }
            do { try await remove(n.id); deleted.append(n.name) } catch { continue }
        }
        return NetworkPruneResponse(NetworksDeleted: deleted)
    }
}
