import BerthModels
import BerthNetwork
import BerthStore
import BerthSystem
import Foundation
import Logging

/// Networks as dockerd has them: the predefined `bridge`, `host` and `none`, user bridge
/// networks, and each container's endpoints on them. The store holds networks, endpoints and
/// addresses; `NetworkHost` makes them real on the host. The actor serialises address and port
/// choices and the changes to the host that go with them.
public actor NetworkService {
    nonisolated let store: Store
    nonisolated let host: any NetworkHost
    nonisolated let config: NetworkConfig
    nonisolated let events: EventService
    nonisolated let sandboxRoot: String
    nonisolated let names: any NameService
    /// Listeners on published ports (`--userland-proxy`).
    nonisolated let proxy: UserlandProxy?
    let log = Log.logger("network")
    /// Host ports published by running containers.
    var ports = PortBook()
    /// Berth's nftables table is made when the first bridge needs it (a berthd with
    /// `--bridge none` and no networks leaves the firewall alone).
    var tableReady = false

    static let predefined: Set<String> = ["bridge", "host", "none"]

    init(store: Store, host: any NetworkHost, config: NetworkConfig, execRoot: String, events: EventService, names: any NameService) {
        self.store = store
        self.host = host
        self.config = config
        self.events = events
        sandboxRoot = execRoot + "/netns"
        self.names = names
        proxy = config.userlandProxy ? UserlandProxy() : nil
    }

    nonisolated func sandboxPath(_ containerID: String) -> String { sandboxRoot + "/" + containerID }

    nonisolated func emit(_ action: String, _ n: NetworkRecord, _ extra: [String: String] = [:]) {
        var attrs = ["name": n.name, "type": n.driver]
        for (k, v) in extra { attrs[k] = v }
        events.record("network", action, id: n.id, attributes: attrs)
    }

    // MARK: daemon start

    /// Predefined networks, Berth's nftables table, the bridges, and what running containers
    /// had (published ports, DNS); sandboxes nobody owns any more are removed.
    func start(running: [ContainerRecord]) async throws {
        try ensurePredefined()
        let published = running.flatMap(mappings)
        for m in published { ports.take(m) }
        let bridges = try store.allNetworks().compactMap(bridgeSpec)
        if !bridges.isEmpty {
            try await host.setUp(bridges: bridges, ports: published)
            tableReady = true
        }
        for b in bridges { try await host.addBridge(b) }
        if let proxy {
            for c in running {
                do { try await proxy.start(mappings(c)) } catch { log.warning("userland proxy for \(c.id.prefix(12)): \(error)") }
            }
        }
        let runningIDs = Set(running.map(\.id))
        // The resolver process may have kept serving while berthd was away.
        let served = Set(await names.served())
        for id in served where !runningIDs.contains(id) { await names.stop(containerID: id) }
        for c in running where FileManager.default.fileExists(atPath: sandboxPath(c.id)) {
            await serveDNSIfNeeded(c.id, alreadyServed: served.contains(c.id))
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: sandboxRoot)) ?? [] where !runningIDs.contains(name) {
            await host.destroySandbox(sandboxRoot + "/" + name)
        }
    }

    func ensurePredefined() throws {
        let enc = JSONEncoder()
        for (name, driver) in [("host", "host"), ("none", "null")] where try store.network(named: name) == nil {
            try? store.insertNetwork(NetworkRecord(id: Identifier.random64(), name: name, driver: driver, created: Timestamp.nowNanos(),
                                                   bridge: "", subnet: "", gateway: "", ip_range: "", internal: false, ipv6: false,
                                                   attachable: false, ipam: try enc.encode(IPAM(Options: nil, Config: [])),
                                                   options: "{}", labels: "{}"))
        }
        let existing = try store.network(named: "bridge")
        guard config.defaultBridge else {
            if let existing, (try store.endpoints(network: existing.id)).allSatisfy({ $0.ip.isEmpty }) {
                try store.deleteNetwork(existing.id) { _ in BerthError.conflict("in use") }
            }
            return
        }
        var subnet: Subnet
        var gateway: IPv4
        if let bip = config.bip {
            guard let s = Subnet(bip), let g = IPv4(bip.split(separator: "/")[0]) else { throw BerthError.invalid("invalid --bip: \(bip)") }
            subnet = s; gateway = g
        } else if let existing, let s = Subnet(existing.subnet), let g = IPv4(existing.gateway) {
            subnet = s; gateway = g
        } else {
            let networks = try store.allNetworks()
            let taken = AddressPools.hostRoutes(excluding: Set(networks.map(\.bridge)).union([config.bridgeName]))
                + networks.compactMap { Subnet($0.subnet) }
            guard let s = AddressPools.choose(from: config.pools, avoiding: taken) else {
                throw BerthError.system("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
            }
            subnet = s; gateway = s.firstHost
        }
        let range = config.fixedCIDR ?? ""
        if let r = Subnet(range), !(subnet.contains(r.base) && subnet.contains(r.last)) {
            throw BerthError.invalid("--fixed-cidr \(range) is not within the default bridge's subnet \(subnet)")
        }
        let options = ["com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.enable_icc": "true",
                       "com.docker.network.bridge.enable_ip_masquerade": "true", "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                       "com.docker.network.bridge.name": config.bridgeName, "com.docker.network.driver.mtu": "1500"]
        var configs = [IPAMConfig(Subnet: subnet.description, IPRange: range.isEmpty ? nil : range, Gateway: gateway.description)]
        var subnet6: Subnet6? = nil
        if config.ipv6 {
            subnet6 = config.fixedCIDRv6.flatMap { Subnet6($0) } ?? existing.flatMap { Subnet6($0.subnet6) } ?? Subnet6.randomULA()
            configs.append(IPAMConfig(Subnet: subnet6!.description, Gateway: subnet6!.firstHost.description))
        }
        let ipam = IPAM(Options: nil, Config: configs)
        var wanted = NetworkRecord(
            id: existing?.id ?? Identifier.random64(), name: "bridge", driver: "bridge", created: existing?.created ?? Timestamp.nowNanos(),
            bridge: config.bridgeName, subnet: subnet.description, gateway: gateway.description, ip_range: range, internal: false,
            ipv6: false, attachable: false, ipam: try enc.encode(ipam),
            options: String(decoding: try enc.encode(options), as: UTF8.self), labels: "{}",
            subnet6: subnet6?.description ?? "", gateway6: subnet6?.firstHost.description ?? "")
        wanted.ipv6 = subnet6 != nil
        guard let existing else { return try store.insertNetwork(wanted) }
        let same = existing.subnet == wanted.subnet && existing.gateway == wanted.gateway && existing.ip_range == wanted.ip_range
            && existing.bridge == wanted.bridge && existing.subnet6 == wanted.subnet6
        // Changed flags take effect once no running container holds an address on it.
        if !same, (try store.endpoints(network: existing.id)).allSatisfy({ $0.ip.isEmpty }) { try store.updateNetwork(wanted) }
    }

    func ensureTable() async throws {
        if tableReady { return }
        try await host.setUp(bridges: [], ports: [])
        tableReady = true
    }

    nonisolated func bridgeSpec(_ n: NetworkRecord) -> BridgeSpec? {
        guard n.driver == "bridge", let s = Subnet(n.subnet), let g = IPv4(n.gateway) else { return nil }
        // A fixed MAC (else the bridge takes its lowest port's): 02 and the network id's first bytes.
        let hex = Array(n.id.prefix(10))
        let mac = "02:" + stride(from: 0, to: hex.count, by: 2).map { String(hex[$0..<min($0 + 2, hex.count)]) }.joined(separator: ":")
        return BridgeSpec(name: n.bridge, subnet: s, gateway: g, internal: n.internal, mac: mac,
                          subnet6: Subnet6(n.subnet6), gateway6: IPv6(n.gateway6))
    }

    // MARK: lookup

    /// By full id, full name, then unique id prefix (dockerd's order).
    public nonisolated func resolve(_ ref: String) throws -> NetworkRecord {
        if let n = try store.network(ref) { return n }
        if let n = try store.network(named: ref) { return n }
        if !ref.isEmpty && Identifier.isHex(ref) {
            let ids = try store.networkIDs(prefix: ref)
            if ids.count > 1 { throw BerthError.invalid("network \(ref) is ambiguous (\(ids.count) matches found based on ID prefix)") }
            if let id = ids.first, let n = try store.network(id) { return n }
        }
        throw BerthError.notFound("network \(ref) not found")
    }

    nonisolated func isUserDefined(_ n: NetworkRecord) -> Bool { !Self.predefined.contains(n.name) }
}
