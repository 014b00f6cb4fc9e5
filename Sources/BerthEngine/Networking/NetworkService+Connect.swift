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
        try checkEndpoint(n, settings)
        do {
            try store.insertEndpoint(EndpointRecord(container_id: c.id, network_id: n.id, config: try JSONEncoder().encode(settings), position: 0))
        } catch let e as BerthError where e.kind == .conflict {
            throw BerthError(.forbidden, "endpoint with name \(c.name) already exists in network \(n.name)")
        }
        let eps = try store.endpoints(container: c.id)
        // Running with a namespace of Berth's (it has addresses): the interface comes now.
        guard ContainerStatus(stored: c.status).hasProcess, eps.contains(where: { !$0.ip.isEmpty }) else { return }
        guard let index = eps.firstIndex(where: { $0.network_id == n.id }) else { return }
        do {
            let hadRoute = eps.contains { !$0.ip.isEmpty }
            _ = try await activate(c.id, eps[index], n, ifname: "eth\(index)", route: !hadRoute)
            if isUserDefined(n) && !names.isServing(c.id) { try await serveDNS(c.id) }
        } catch {
            try? store.deleteEndpoint(container: c.id, network: n.id)
            throw error
        }
    }

    /// What an endpoint may ask for on a network (at create and at connect).
    nonisolated func checkEndpoint(_ n: NetworkRecord, _ s: EndpointSettings) throws {
        // (it is handed to `ip`: nothing but a MAC may get there)
        if !s.MacAddress.isEmpty && !Self.isMAC(s.MacAddress) { throw BerthError.invalid("invalid MAC address: \(s.MacAddress)") }
        let ip = s.IPAMConfig?.IPv4Address ?? ""
        if !ip.isEmpty {
            if !isUserDefined(n) { throw BerthError.invalid("user specified IP address is supported on user defined networks only") }
            guard let a = IPv4(ip), let sub = Subnet(n.subnet), sub.contains(a) else {
                throw BerthError.invalid("Invalid address \(ip): It does not belong to any of this network's subnets")
            }
        }
        let ip6 = s.IPAMConfig?.IPv6Address ?? ""
        if !ip6.isEmpty {
            if !isUserDefined(n) { throw BerthError.invalid("user specified IP address is supported on user defined networks only") }
            guard let a = IPv6(ip6), let sub = Subnet6(n.subnet6), sub.contains(a) else {
                throw BerthError.invalid("Invalid address \(ip6): It does not belong to any of this network's subnets")
            }
        }
        if !(s.Aliases ?? []).isEmpty && !isUserDefined(n) {
            throw BerthError.invalid("network-scoped alias is supported only for containers in user defined networks")
        }
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
}
