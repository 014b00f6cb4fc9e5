import BerthModels
import BerthNetwork
import BerthStore
import BerthSystem
import Foundation

extension NetworkService {
    /// `POST /networks/{id}/connect`: a stopped container gets the endpoint at its next start, a
    /// running one gets its interface now.
    public func connect(_ ref: String, _ req: NetworkConnectRequest) async throws {
        let n = try resolve(ref)
        let c = try ContainerLookup.resolve(store, req.Container)
        let hc = (try? JSONDecoder().decode(HostConfig.self, from: c.host_config)) ?? HostConfig()
        let mode = hc.NetworkMode ?? "bridge"
        if n.driver != "bridge" || mode == "host" || mode.hasPrefix("container:") || (mode == "none") {
            throw BerthError(.forbidden, "container sharing network namespace with another container or host cannot be connected to any other network")
        }
        let settings = req.EndpointConfig ?? EndpointSettings(networkID: n.id)
        _ = try endpointsForCreateCheck(n, settings)
        if try store.endpoints(container: c.id).contains(where: { $0.network_id == n.id }) {
            throw BerthError(.forbidden, "endpoint with name \(c.name) already exists in network \(n.name)")
        }
        try store.insertEndpoint(EndpointRecord(container_id: c.id, network_id: n.id, config: try JSONEncoder().encode(settings), position: 0))
        let eps = try store.endpoints(container: c.id)
        // Running with a namespace of Berth's (it has addresses): the interface comes now.
        guard ContainerStatus(stored: c.status).hasProcess, eps.contains(where: { !$0.ip.isEmpty }) else { return }
        guard let index = eps.firstIndex(where: { $0.network_id == n.id }) else { return }
        do {
            let hadRoute = eps.contains { !$0.ip.isEmpty }
            _ = try await activate(c.id, eps[index], n, ifname: "eth\(index)", route: !hadRoute)
            if isUserDefined(n) && !dns.isServing(c.id) { try await serveDNS(c.id) }
        } catch {
            try? store.deleteEndpoint(container: c.id, network: n.id)
            throw error
        }
    }

    nonisolated func endpointsForCreateCheck(_ n: NetworkRecord, _ s: EndpointSettings) throws -> Bool {
        // (it is handed to `ip`: nothing but a MAC may get there)
        if !s.MacAddress.isEmpty && !Self.isMAC(s.MacAddress) { throw BerthError.invalid("invalid MAC address: \(s.MacAddress)") }
        let ip = s.IPAMConfig?.IPv4Address ?? ""
        if !ip.isEmpty {
            if !isUserDefined(n) { throw BerthError.invalid("user specified IP address is supported on user defined networks only") }
            guard let a = IPv4(ip), let sub = Subnet(n.subnet), sub.contains(a) else {
                throw BerthError.invalid("Invalid address \(ip): It does not belong to any of this network's subnets")
            }
        }
        if !(s.Aliases ?? []).isEmpty && !isUserDefined(n) {
            throw BerthError.invalid("network-scoped alias is supported only for containers in user defined networks")
        }
        return true
    }

    /// `POST /networks/{id}/disconnect`.
    public func disconnect(_ ref: String, _ req: NetworkDisconnectRequest) async throws {
        let n = try resolve(ref)
        let c: ContainerRecord
        do { c = try ContainerLookup.resolve(store, req.Container) } catch {
            if req.Force == true {
                for e in try store.endpoints(network: n.id) where e.container_id.hasPrefix(req.Container) {
                    try store.deleteEndpoint(container: e.container_id, network: n.id)
                }
                return
            }
            throw error
        }
        guard let e = try store.endpoints(container: c.id).first(where: { $0.network_id == n.id }) else {
            throw BerthError(.forbidden, "container \(c.id) is not connected to network \(n.name)")
        }
        if !e.ip.isEmpty {
            await host.detach(endpointSpec(c.id, e, n, ifname: "", defaultRoute: false))
            emit("disconnect", n, ["container": c.id])
        }
        try store.deleteEndpoint(container: c.id, network: n.id)
    }

    // MARK: inspect

    /// `NetworkSettings` of a container: its endpoints (with addresses while it runs) and ports.
    nonisolated func settings(_ c: ContainerRecord, _ hc: HostConfig, running: Bool) -> NetworkSettings {
        let mode = hc.NetworkMode ?? "bridge"
        var nets: [String: EndpointSettings] = [:]
        var top: EndpointSettings? = nil
        let dec = JSONDecoder()
        let endpoints = (try? store.endpoints(container: c.id)) ?? []
        if endpoints.isEmpty {
            let name = mode.hasPrefix("container:") ? nil : (mode == "default" ? "bridge" : mode)
            if let name {
                var s = EndpointSettings(networkID: (try? store.network(named: name))??.id ?? "")
                s.DriverOpts = nil
                nets[name] = s
            }
        }
        for e in endpoints {
            guard let n = try? store.network(e.network_id) else { continue }
            var s = (try? dec.decode(EndpointSettings.self, from: e.config)) ?? EndpointSettings(networkID: n.id)
            s.NetworkID = n.id
            s.EndpointID = e.endpoint_id
            s.MacAddress = e.mac
            s.IPAddress = e.ip
            if !e.ip.isEmpty {
                s.Gateway = n.gateway
                s.IPPrefixLen = Subnet(n.subnet)?.prefix ?? 0
            }
            if isUserDefined(n) {
                var names = [c.name, String(c.id.prefix(12))]
                for a in s.Aliases ?? [] where !names.contains(a) { names.append(a) }
                s.DNSNames = names
            }
            if n.name == "bridge" { top = s }
            nets[n.name] = s
        }
        var out = NetworkSettings(sandboxKey: running && FileManager.default.fileExists(atPath: sandboxPath(c.id)) ? sandboxPath(c.id) : "",
                                  networks: nets)
        if let top, running {
            out.EndpointID = top.EndpointID; out.Gateway = top.Gateway; out.IPAddress = top.IPAddress
            out.IPPrefixLen = top.IPPrefixLen; out.MacAddress = top.MacAddress
        }
        if running, !c.ports.isEmpty, let p = try? dec.decode([String: [PortBinding]?].self, from: Data(c.ports.utf8)) {
            out.Ports = p
        }
        return out
    }

    /// The `Ports` of a container summary.
    nonisolated static func summaryPorts(_ ports: String) -> [PortSummary] {
        guard !ports.isEmpty, let p = try? JSONDecoder().decode([String: [PortBinding]?].self, from: Data(ports.utf8)) else { return [] }
        return PortRequest.summary(p)
    }
}
