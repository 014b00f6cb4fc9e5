import BerthExecutor
import BerthModels
import BerthNetwork
import BerthStore
import BerthSystem
import Foundation

/// What a container's start gets from its networks: the network namespace to join (nil: a new
/// one, or the host's for `host`), and the lines its /etc files need.
struct NetworkPlan: Sendable {
    enum Namespace: Sendable, Equatable { case host, fresh, path(String) }
    var namespace: Namespace
    /// resolv.conf as the container sees it (nil: the host's, as before).
    var resolvConf: String?
    /// Extra /etc/hosts lines (the container's own address).
    var hosts: [String]
    /// What `--add-host NAME:host-gateway` stands for: the default bridge's gateway.
    var hostGateway: String? = nil
    /// Variables of legacy links (default bridge).
    var env: [String] = []
}

extension NetworkService {
    /// The network a container's `NetworkMode` names: nil for host, none, container:… and for
    /// the default bridge when it is turned off.
    nonisolated func primaryNetwork(_ mode: String) throws -> NetworkRecord? {
        switch mode {
        case "host", "none": return nil
        case _ where mode.hasPrefix("container:"): return nil
        case "", "default", "bridge": return try store.network(named: "bridge")
        default: return try resolve(mode)
        }
    }

    /// Checks a create request's networking and returns the endpoints to record.
    /// `macAddress`: `Config.MacAddress`, where clients before API 1.44 put `--mac-address`.
    nonisolated func endpointsForCreate(_ hc: HostConfig, _ nc: NetworkingConfig?, macAddress: String? = nil) throws -> [(NetworkRecord, EndpointSettings)] {
        let mode = hc.NetworkMode ?? "bridge"
        var given = nc?.EndpointsConfig ?? [:]
        if mode.hasPrefix("container:") || mode == "host" || mode == "none" {
            if !given.isEmpty && mode != "none" {
                throw BerthError.invalid("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
            }
            return []
        }
        var out: [(NetworkRecord, EndpointSettings)] = []
        let found: NetworkRecord?
        do { found = try primaryNetwork(mode) } catch let e as BerthError where e.kind == .notFound {
            // As dockerd: a network that does not exist fails the start, not the create (the
            // docker CLI takes a 404 from create for a missing image).
            return []
        }
        guard let primary = found else { return [] }  // the default bridge is off
        do {
            let key = given.keys.first { $0 == mode || $0 == primary.name || $0 == primary.id || (primary.name == "bridge" && $0 == "default") } ?? mode
            var settings = given.removeValue(forKey: key) ?? EndpointSettings(networkID: "")
            if settings.MacAddress.isEmpty, let m = macAddress, !m.isEmpty { settings.MacAddress = m }
            // Links on a user network are DNS aliases of this endpoint.
            if isUserDefined(primary), settings.Links == nil, let links = hc.Links, !links.isEmpty { settings.Links = links }
            out.append((primary, settings))
        }
        for (ref, settings) in given.sorted(by: { $0.key < $1.key }) {
            let n = try resolve(ref)
            if !isUserDefined(n) { throw BerthError.invalid("container cannot be connected to network \(n.name) as well") }
            if out.contains(where: { $0.0.id == n.id }) { continue }
            out.append((n, settings))
        }
        for (n, s) in out { try checkEndpoint(n, s) }
        return out
    }

    /// Six two-digit hex bytes separated by colons (the only form `ip` is given).
    nonisolated static func isMAC(_ s: String) -> Bool {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 6 && parts.allSatisfy { $0.count == 2 && $0.allSatisfy(\.isHexDigit) && $0.allSatisfy(\.isASCII) }
    }

    /// Records the endpoints of a new container.
    func recordEndpoints(_ containerID: String, _ endpoints: [(NetworkRecord, EndpointSettings)]) throws {
        let enc = JSONEncoder()
        for (n, s) in endpoints {
            try store.insertEndpoint(EndpointRecord(container_id: containerID, network_id: n.id, config: try enc.encode(s), position: 0))
        }
    }

    // MARK: start and stop

    /// Before the container's process is created: its namespace, an address on each of its
    /// networks (a veth into the namespace), its published ports, and its DNS.
    nonisolated func prepare(_ c: ContainerRecord, _ hc: HostConfig, _ config: ContainerConfig) async throws -> NetworkPlan {
        var plan: NetworkPlan
        let mode = hc.NetworkMode ?? "bridge"
        if mode == "host" {
            plan = NetworkPlan(namespace: .host, resolvConf: nil, hosts: [])
        } else if mode.hasPrefix("container:") {
            let ref = String(mode.dropFirst(10))
            guard let other = try? ContainerLookup.resolve(store, ref) else { throw BerthError.notFound("No such container: \(ref)") }
            guard ContainerStatus(stored: other.status).hasProcess, other.pid > 0 else {
                throw BerthError.conflict("cannot join network of a non running container: \(other.id)")
            }
            let path = FileManager.default.fileExists(atPath: sandboxPath(other.id)) ? sandboxPath(other.id) : "/proc/\(other.pid)/ns/net"
            plan = NetworkPlan(namespace: .path(path), resolvConf: nil, hosts: [])
        } else {
            var endpoints = try store.endpoints(container: c.id)
            if endpoints.isEmpty && !["none", "", "default", "bridge"].contains(mode) {
                // Named at create before it existed, or removed since: it must exist now.
                let n = try resolve(mode)
                try? store.insertEndpoint(EndpointRecord(container_id: c.id, network_id: n.id, config: Data("{}".utf8), position: 0))
                endpoints = try store.endpoints(container: c.id)
            }
            if mode == "none" || endpoints.isEmpty {
                plan = NetworkPlan(namespace: .fresh, resolvConf: nil, hosts: [])
            } else {
                // Addresses and ports are chosen one container at a time: on the actor.
                plan = try await prepareSandbox(c, hc, config, endpoints)
            }
        }
        if (hc.ExtraHosts ?? []).contains(where: { $0.hasSuffix(":host-gateway") }) {
            plan.hostGateway = (try? store.network(named: "bridge"))??.gateway
        }
        return plan
    }

    func prepareSandbox(_ c: ContainerRecord, _ hc: HostConfig, _ config: ContainerConfig, _ endpoints: [EndpointRecord]) async throws -> NetworkPlan {
        let sandbox = sandboxPath(c.id)
        do {
            try await host.createSandbox(sandbox)
            var hosts: [String] = []
            var env: [String] = []
            var userNetwork = false
            var first: EndpointRecord? = nil
            var routed = false
            for (i, e) in endpoints.enumerated() {
                guard let n = try store.network(e.network_id) else { continue }
                let (rec, defaultRoute) = try await activate(c.id, e, n, ifname: "eth\(i)", route: !routed)
                routed = routed || defaultRoute
                if first == nil {
                    first = rec
                    let hostname = config.Hostname ?? String(c.id.prefix(12))
                    hosts.append("\(rec.ip)\t\(hostname)")
                    if !rec.ip6.isEmpty { hosts.append("\(rec.ip6)\t\(hostname)") }
                }
                if isUserDefined(n) { userNetwork = true }
                if n.name == "bridge", !(hc.Links ?? []).isEmpty {
                    let links = try LegacyLinks.resolve(hc, containerName: c.name, bridge: n, store: store)
                    hosts += links.hosts
                    env += links.env
                }
            }
            if let first, let ip = IPv4(first.ip) { try await publish(c.id, hc, config, containerIP: ip, containerIP6: IPv6(first.ip6)) }
            var resolv: String? = nil
            if userNetwork {
                resolv = Self.embeddedResolvConf(hc)
                try await serveDNS(c.id)
            }
            return NetworkPlan(namespace: .path(sandbox), resolvConf: resolv, hosts: hosts, env: env)
        } catch {
            await teardown(c.id)
            throw error
        }
    }

    /// resolv.conf for a container with the embedded DNS: 127.0.0.11, the host's search domains
    /// (or --dns-search), ndots:0 and --dns-option, as dockerd writes it.
    nonisolated static func embeddedResolvConf(_ hc: HostConfig) -> String {
        let hostConf = (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? ""
        var search = hostConf.split(separator: "\n").filter { $0.hasPrefix("search ") }.map(String.init)
        var options = hostConf.split(separator: "\n").filter { $0.hasPrefix("options ") }.map(String.init)
        if let s = hc.DnsSearch, !s.isEmpty { search = ["search " + s.joined(separator: " ")] }
        if let o = hc.DnsOptions, !o.isEmpty { options = ["options " + o.joined(separator: " ")] }
        var out = search.map { $0 + "\n" }.joined() + "nameserver 127.0.0.11\n"
        if options.isEmpty { out += "options ndots:0\n" } else { out += options.map { $0 + "\n" }.joined() }
        return out
    }

    /// An address for the endpoint (chosen in the transaction that records it) and its veth.
    func activate(_ containerID: String, _ e: EndpointRecord, _ n: NetworkRecord, ifname: String, route: Bool) async throws -> (EndpointRecord, Bool) {
        guard let subnet = Subnet(n.subnet), let gateway = IPv4(n.gateway) else {
            throw BerthError.system("network \(n.name) has no IPv4 subnet")
        }
        let settings = (try? JSONDecoder().decode(EndpointSettings.self, from: e.config)) ?? EndpointSettings(networkID: n.id)
        let wanted = (settings.IPAMConfig?.IPv4Address).flatMap { IPv4($0) }
        let range = Subnet(n.ip_range)
        let subnet6 = Subnet6(n.subnet6), gateway6 = IPv6(n.gateway6)
        let wanted6 = (settings.IPAMConfig?.IPv6Address).flatMap { IPv6($0) }
        let rec = try store.assignAddress(container: containerID, network: n.id) { used, used6 in
            let ip: IPv4
            if let wanted {
                if used.contains(wanted.description) || wanted == gateway { throw BerthError.conflict("Address already in use") }
                ip = wanted
            } else {
                guard let p = IPAM.pick(subnet: subnet, range: range, gateway: gateway, used: used) else {
                    throw BerthError.system("no available IPv4 addresses on this network's address pools: \(n.name) (\(n.id))")
                }
                ip = p
            }
            var ip6 = ""
            if let subnet6, let gateway6 {
                if let wanted6 {
                    if used6.contains(wanted6.description) || wanted6 == gateway6 { throw BerthError.conflict("Address already in use") }
                    ip6 = wanted6.description
                } else {
                    guard let p = subnet6.pick(gateway: gateway6, used: used6) else {
                        throw BerthError.system("no available IPv6 addresses on this network's address pools: \(n.name) (\(n.id))")
                    }
                    ip6 = p.description
                }
            }
            let mac = settings.MacAddress.isEmpty ? IPAM.mac(for: ip) : settings.MacAddress
            return (ip.description, ip6, mac, Identifier.random64())
        }
        guard IPv4(rec.ip) != nil else { throw BerthError.system("bad address \(rec.ip)") }
        let defaultRoute = route && !n.internal
        try await host.attach(endpointSpec(containerID, rec, n, ifname: ifname, defaultRoute: defaultRoute))
        emit("connect", n, ["container": containerID])
        return (rec, defaultRoute)
    }

    nonisolated func endpointSpec(_ containerID: String, _ e: EndpointRecord, _ n: NetworkRecord, ifname: String, defaultRoute: Bool) -> EndpointSpec {
        var spec = EndpointSpec(sandbox: sandboxPath(containerID), ifname: ifname, hostIfname: "veth" + e.endpoint_id.prefix(7),
                                bridge: n.bridge, address: IPv4(e.ip) ?? IPv4(0), prefix: Subnet(n.subnet)?.prefix ?? 32, mac: e.mac,
                                gateway: IPv4(n.gateway) ?? IPv4(0), defaultRoute: defaultRoute)
        if let a6 = IPv6(e.ip6), let s6 = Subnet6(n.subnet6) {
            spec.address6 = a6
            spec.prefix6 = s6.prefix
            spec.gateway6 = defaultRoute ? IPv6(n.gateway6) : nil
        }
        return spec
    }

    /// Chooses host ports, programs the DNAT elements and records NetworkSettings.Ports.
    func publish(_ containerID: String, _ hc: HostConfig, _ config: ContainerConfig, containerIP: IPv4, containerIP6: IPv6?) async throws {
        var mappings: [PortMapping] = []
        // Where the search for a host port resumes, per range asked for: many bindings sharing a
        // range (or none given) take their ports in one pass over it.
        var resume: [String: UInt16] = [:]
        for r in try PortRequest.requests(hc, exposed: config.ExposedPorts) where r.proto != "sctp" {
            let rangeKey = "\(r.proto)/\(r.hostIP?.description ?? "")/\(r.hostPorts)"
            var chosen: UInt16? = nil
            for p in (resume[rangeKey] ?? r.hostPorts.lowerBound)...r.hostPorts.upperBound where ports.isFree(r.proto, r.hostIP, p) {
                chosen = p
                break
            }
            guard let port = chosen else {
                let shown = r.hostPorts.count == 1 ? "\(r.hostPorts.lowerBound)" : "\(r.hostPorts.lowerBound)-\(r.hostPorts.upperBound)"
                for m in mappings { ports.give(m) }
                throw BerthError.system("driver failed programming external connectivity on endpoint: Bind for \(r.hostIP?.description ?? "0.0.0.0"):\(shown) failed: port is already allocated")
            }
            if port < r.hostPorts.upperBound { resume[rangeKey] = port + 1 } else { resume[rangeKey] = port }
            let m = PortMapping(proto: r.proto, hostIP: r.hostIP, hostPort: port, containerIP: containerIP, containerPort: r.containerPort,
                                containerIP6: r.hostIP == nil ? containerIP6 : nil)
            ports.take(m)
            mappings.append(m)
        }
        let settings = PortRequest.settings(published: mappings, exposed: config.ExposedPorts)
        guard !settings.isEmpty else { return }   // nothing to record or program: no write on this start
        let json = String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)
        try store.updateContainer(containerID) { $0.ports = json }
        do {
            try await host.publish(mappings)
            do { try await proxy?.start(mappings) } catch {
                await host.unpublish(mappings)
                throw BerthError.system("driver failed programming external connectivity on endpoint \(name(containerID)): \(BerthError.wrap(error).message)")
            }
        } catch {
            for m in mappings { ports.give(m) }
            throw error
        }
    }

    nonisolated func name(_ containerID: String) -> String { (try? store.container(containerID))??.name ?? String(containerID.prefix(12)) }

    /// The DNAT mappings of a running container, from its recorded ports and first address.
    nonisolated func mappings(_ c: ContainerRecord) -> [PortMapping] {
        guard !c.ports.isEmpty,
              let ports = try? JSONDecoder().decode([String: [PortBinding]?].self, from: Data(c.ports.utf8)),
              let first = (try? store.endpoints(container: c.id))?.first, let ip = IPv4(first.ip) else { return [] }
        let ip6 = IPv6(first.ip6)
        var out: [PortMapping] = []
        for (key, list) in ports {
            guard let (p, proto) = try? PortRequest.parseKey(key) else { continue }
            // ("::" rows only show that a port on every address reaches the IPv6 address too.)
            for b in list ?? [] where b.HostIp != "::" {
                guard let hp = UInt16(b.HostPort) else { continue }
                let any = b.HostIp == "0.0.0.0"
                out.append(PortMapping(proto: proto, hostIP: any ? nil : IPv4(b.HostIp), hostPort: hp,
                                       containerIP: ip, containerPort: p, containerIP6: any ? ip6 : nil))
            }
        }
        return out
    }

    /// After the container's process is gone (and at reconcile): ports, veths, addresses, DNS
    /// and the namespace are given back. Safe to repeat.
    func teardown(_ containerID: String) async {
        if names.isServing(containerID) { await names.stop(containerID: containerID) }
        let sandbox = sandboxPath(containerID)
        let hasSandbox = FileManager.default.fileExists(atPath: sandbox)
        guard let c = try? store.container(containerID) else {
            if hasSandbox { await host.destroySandbox(sandbox) }
            return
        }
        let maps = mappings(c)
        if !maps.isEmpty {
            await proxy?.stop(maps)
            await host.unpublish(maps)
            for m in maps { ports.give(m) }
        }
        if !c.ports.isEmpty { _ = try? store.updateContainer(containerID) { $0.ports = "" } }
        let active = ((try? store.endpoints(container: containerID)) ?? []).filter { !$0.ip.isEmpty }
        for e in active {
            guard let n = try? store.network(e.network_id) else { continue }
            // The veths go with the namespace (the kernel removes a pair whose end it destroys,
            // after berthd moved on: `ip link del` would wait ~20–40 ms for RCU grace periods).
            if !hasSandbox { await host.detach(endpointSpec(containerID, e, n, ifname: "", defaultRoute: false)) }
            emit("disconnect", n, ["container": containerID])
        }
        if !active.isEmpty { try? store.releaseAddresses(container: containerID) }
        if hasSandbox { await host.destroySandbox(sandbox) }
    }

    /// Whether a container has anything on the host: a namespace of Berth's (addresses, veths and
    /// ports come only with one), or a resolver. Checked without the actor, so the common case
    /// (a container of `none`, `host` or a stopped one) costs one stat.
    nonisolated func needsTeardown(_ containerID: String, ports: String? = nil) -> Bool {
        if FileManager.default.fileExists(atPath: sandboxPath(containerID)) || names.isServing(containerID) { return true }
        if let ports { return !ports.isEmpty }
        return (try? store.container(containerID))??.ports.isEmpty == false
    }

    // MARK: DNS

    func serveDNS(_ containerID: String) async throws {
        try await names.serve(containerID: containerID, sandbox: sandboxPath(containerID), upstreams: ownResolvers(containerID))
    }

    nonisolated func ownResolvers(_ containerID: String) -> [String] {
        let hc = (try? store.container(containerID)).flatMap { $0 }.flatMap { try? JSONDecoder().decode(HostConfig.self, from: $0.host_config) }
        return hc?.Dns ?? []
    }

    /// At daemon start: a running container on a user network gets its resolver back (or keeps
    /// the one the resolver process held while berthd was away).
    func serveDNSIfNeeded(_ containerID: String, alreadyServed: Bool) async {
        guard let eps = try? store.endpoints(container: containerID),
              eps.contains(where: { (try? store.network($0.network_id)).flatMap { $0 }.map(isUserDefined) ?? false }) else {
            if alreadyServed { await names.stop(containerID: containerID) }
            return
        }
        if alreadyServed {
            await names.adopt(containerID: containerID, sandbox: sandboxPath(containerID), upstreams: ownResolvers(containerID))
            return
        }
        do { try await serveDNS(containerID) } catch { log.warning("DNS for \(containerID.prefix(12)): \(error)") }
    }
}

/// Finding a container from a reference outside ContainerService (network modes, connect).
enum ContainerLookup {
    static func resolve(_ store: Store, _ ref: String) throws -> ContainerRecord {
        if ref.count == 64, let c = try store.container(ref) { return c }
        let name = ref.hasPrefix("/") ? String(ref.dropFirst()) : ref
        if let c = try store.container(named: name) { return c }
        if !ref.isEmpty && Identifier.isHex(ref) {
            let ids = try store.containerIDs(prefix: ref)
            if ids.count > 1 { throw BerthError.invalid("Multiple IDs found with provided prefix: \(ref)") }
            if let id = ids.first, let c = try store.container(id) { return c }
        }
        throw BerthError.notFound("No such container: \(ref)")
    }
}
