import BerthEngine
import BerthModels
import BerthNetwork
import BerthSystem
import Foundation
import Testing

/// Networks through the real API and engine over FakeNetworkHost (nothing changes on the host).
@Suite struct NetworkAPITests {
    static func harness(_ name: String = #function) async throws -> APIHarness {
        let h = try await APIHarness(name)
        try await h.loadImage(try FakeImage.archive(cmd: ["sleep"]))
        return h
    }

    func createNetwork(_ h: APIHarness, _ name: String, subnet: String? = nil) async throws -> RawResponse {
        var req = NetworkCreateRequest(Name: name)
        if let subnet { req.IPAM = IPAM(Config: [IPAMConfig(Subnet: subnet)]) }
        return try await h.request("POST", "/v1.47/networks/create", json: req)
    }

    @Test func predefinedNetworksAndDockersErrors() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        let all = try await h.decode([NetworkResource].self, "GET", "/v1.47/networks")
        #expect(Set(all.map(\.Name)) == ["bridge", "host", "none"])
        let bridge = try #require(all.first { $0.Name == "bridge" })
        #expect(bridge.Options["com.docker.network.bridge.default_bridge"] == "true")
        #expect(h.network.state.withLock { $0.bridges["berth0"] } != nil)

        let rmBridge = try await h.request("DELETE", "/v1.47/networks/bridge")
        #expect(rmBridge.status == 403 && rmBridge.text.contains("bridge is a pre-defined network and cannot be removed"))
        #expect(try await createNetwork(h, "host").status == 403)
        #expect(try await h.request("DELETE", "/v1.47/networks/nope").text.contains("network nope not found"))

        let created = try await createNetwork(h, "api-net", subnet: "10.50.0.0/24")
        #expect(created.status == 201)
        let id = try JSONDecoder().decode(NetworkCreateResponse.self, from: Data(created.body)).Id
        #expect(try await createNetwork(h, "api-net").status == 409)
        #expect(try await createNetwork(h, "api-other", subnet: "10.50.0.128/25").status == 403)
        #expect(try await createNetwork(h, "api-bad", subnet: "10.50.0.1/24").status == 400)
        let byPrefix = try await h.decode(NetworkResource.self, "GET", "/v1.47/networks/\(id.prefix(6))")
        #expect(byPrefix.Name == "api-net" && byPrefix.IPAM.Config?.first?.Gateway == "10.50.0.1")
        let custom = try await h.decode([NetworkResource].self, "GET", "/v1.47/networks?filters=%7B%22type%22%3A%5B%22custom%22%5D%7D")
        #expect(custom.map(\.Name) == ["api-net"])
        #expect(h.network.state.withLock { $0.bridges["br-" + id.prefix(12)]?.subnet.description } == "10.50.0.0/24")
        // A new network without a subnet takes the next default pool.
        let auto = try await createNetwork(h, "api-auto")
        let autoNet = try await h.decode(NetworkResource.self, "GET", "/v1.47/networks/api-auto")
        let autoSubnet = try #require(Subnet(autoNet.IPAM.Config?.first?.Subnet ?? ""))
        let bridgeSubnet = try #require(Subnet(bridge.IPAM.Config?.first?.Subnet ?? ""))
        #expect(auto.status == 201 && Subnet("172.16.0.0/12")!.contains(autoSubnet.base) && autoSubnet.prefix == 16)
        #expect(!autoSubnet.overlaps(bridgeSubnet) && !autoSubnet.overlaps(Subnet("10.50.0.0/24")!))

        #expect(try await h.request("DELETE", "/v1.47/networks/api-net").status == 204)
        #expect(h.network.state.withLock { $0.bridges["br-" + id.prefix(12)] } == nil)
        let pruned = try await h.decode(NetworkPruneResponse.self, "POST", "/v1.47/networks/prune")
        #expect(pruned.NetworksDeleted == ["api-auto"])
    }

    @Test func containerGetsAddressPortsAndNamesWhileItRuns() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        #expect(try await createNetwork(h, "app", subnet: "10.60.0.0/24").status == 201)
        var hc = HostConfig()
        hc.NetworkMode = "app"
        hc.PortBindings = ["80/tcp": [PortBinding(HostIp: "127.0.0.1", HostPort: "8080")], "53/udp": [PortBinding(HostIp: "", HostPort: "")]]
        var ep = EndpointSettings(networkID: "")
        ep.IPAMConfig = EndpointIPAMConfig(IPv4Address: "10.60.0.9", IPv6Address: nil)
        ep.Aliases = ["db"]
        let web = try await h.create(CreateBody(hostConfig: hc, networking: NetworkingConfig(EndpointsConfig: ["app": ep])), name: "web")
        try await h.start(web)

        let c = try await h.inspect(web)
        let onApp = try #require(c.NetworkSettings.Networks["app"])
        #expect(onApp.IPAddress == "10.60.0.9" && onApp.Gateway == "10.60.0.1" && onApp.IPPrefixLen == 24)
        #expect(onApp.MacAddress == "02:42:0a:3c:00:09")
        #expect(onApp.DNSNames == ["web", String(web.prefix(12)), "db"])
        #expect(c.NetworkSettings.Ports["80/tcp"]??.first == PortBinding(HostIp: "127.0.0.1", HostPort: "8080"))
        let udp = try #require(c.NetworkSettings.Ports["53/udp"] ?? nil)
        #expect(UInt16(udp[0].HostPort).map { PortRequestRange.ephemeral.contains($0) } == true)
        let ps = try await h.decode([ContainerSummary].self, "GET", "/v1.47/containers/json")
        #expect(ps.first?.Ports.contains(PortSummary(IP: "127.0.0.1", PrivatePort: 80, PublicPort: 8080, Type: "tcp")) == true)
        let fake = h.network.state.withLock { $0 }
        #expect(fake.endpoints.values.map(\.address.description) == ["10.60.0.9"])
        #expect(fake.ports.contains(PortMapping(proto: "tcp", hostIP: IPv4("127.0.0.1"), hostPort: 8080,
                                                containerIP: IPv4("10.60.0.9")!, containerPort: 80)))
        let net = try await h.decode(NetworkResource.self, "GET", "/v1.47/networks/app")
        #expect(net.Containers[web]?.IPv4Address == "10.60.0.9/24")

        // The embedded DNS: by name, alias and short id, for containers on the same network only.
        let other = try await h.create(CreateBody(hostConfig: { var x = HostConfig(); x.NetworkMode = "app"; return x }()), name: "other")
        try await h.start(other)
        let lone = try await h.create(CreateBody(), name: "lone")
        try await h.start(lone)
        for name in ["web", "db", String(web.prefix(12))] {
            #expect(try h.engine.store.resolveName(asker: other, name: name) == ["10.60.0.9"])
        }
        #expect(try h.engine.store.resolveName(asker: lone, name: "web").isEmpty)
        #expect(try h.engine.store.reverseName(asker: other, ip: "10.60.0.9") == "web.app")
        #expect(try h.engine.store.reverseName(asker: lone, ip: "10.60.0.9") == nil)

        // The same host port again is refused; the address asked for is taken too.
        var clash = HostConfig()
        clash.PortBindings = ["81/tcp": [PortBinding(HostIp: "", HostPort: "8080")]]
        let second = try await h.create(CreateBody(hostConfig: clash))
        let failed = try await h.request("POST", "/v1.47/containers/\(second)/start")
        #expect(failed.status == 500 && failed.text.contains("Bind for 0.0.0.0:8080 failed: port is already allocated"))
        #expect(try await h.request("DELETE", "/v1.47/networks/app").status == 409)

        // Stopped: address, veth, ports and namespace are given back.
        #expect(try await h.request("POST", "/v1.47/containers/\(web)/kill").status == 204)
        try await eventually("released") {
            h.network.state.withLock { s in !s.ports.contains { $0.hostPort == 8080 } && !s.endpoints.values.contains { $0.address.description == "10.60.0.9" } }
        }
        let stopped = try await h.inspect(web)
        #expect(stopped.NetworkSettings.Networks["app"]?.IPAddress == "" && stopped.NetworkSettings.Ports.isEmpty)
        try await h.start(second)
        #expect(try await h.inspect(second).NetworkSettings.Ports["81/tcp"]??.first?.HostPort == "8080")
    }

    @Test func connectAndDisconnectARunningContainer() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        #expect(try await createNetwork(h, "extra", subnet: "10.70.0.0/24").status == 201)
        let id = try await h.create(CreateBody(), name: "mover")
        try await h.start(id)
        let r = try await h.request("POST", "/v1.47/networks/extra/connect", json: NetworkConnectRequest(Container: "mover", EndpointConfig: nil))
        #expect(r.status == 200)
        let c = try await h.inspect(id)
        #expect(c.NetworkSettings.Networks["extra"]?.IPAddress == "10.70.0.2")
        let bridge = try await h.decode(NetworkResource.self, "GET", "/v1.47/networks/bridge")
        let bridgeSubnet = try #require(Subnet(bridge.IPAM.Config?.first?.Subnet ?? ""))
        #expect(IPv4(c.NetworkSettings.Networks["bridge"]?.IPAddress ?? "").map(bridgeSubnet.contains) == true)
        #expect(c.NetworkSettings.IPAddress == c.NetworkSettings.Networks["bridge"]?.IPAddress)
        #expect(h.network.state.withLock { $0.endpoints.values.map(\.ifname).sorted() } == ["eth0", "eth1"])
        let again = try await h.request("POST", "/v1.47/networks/extra/connect", json: NetworkConnectRequest(Container: "mover", EndpointConfig: nil))
        #expect(again.status == 403)
        let d = try await h.request("POST", "/v1.47/networks/extra/disconnect", json: NetworkDisconnectRequest(Container: "mover", Force: false))
        #expect(d.status == 200)
        #expect(try await h.inspect(id).NetworkSettings.Networks["extra"] == nil)
        #expect(h.network.state.withLock { $0.endpoints.values.map(\.ifname) } == ["eth0"])
        // A MAC goes to `ip` as text: anything else is refused, on connect and at create.
        var bad = EndpointSettings(networkID: "")
        bad.MacAddress = "02:42:00:00:00:01\nlink del berth0"
        let injected = try await h.request("POST", "/v1.47/networks/extra/connect", json: NetworkConnectRequest(Container: "mover", EndpointConfig: bad))
        #expect(injected.status == 400 && injected.text.contains("invalid MAC address"))
        let created = try await h.request("POST", "/v1.47/containers/create",
                                          json: CreateBody(networking: NetworkingConfig(EndpointsConfig: ["bridge": bad])))
        #expect(created.status == 400)
        #expect(try await h.request("DELETE", "/v1.47/networks/extra").status == 204)
    }

    /// At daemon start the table is rebuilt with the ports of containers still running.
    @Test func daemonRestartKeepsPublishedPorts() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        var hc = HostConfig()
        hc.PortBindings = ["80/tcp": [PortBinding(HostIp: "", HostPort: "9090")]]
        let id = try await h.create(CreateBody(hostConfig: hc))
        try await h.start(id)
        await h.engine.stop()
        h.network.state.withLock { $0.ports = [] }
        let h2 = try await APIHarness(restarting: h)
        #expect(h2.network.state.withLock { $0.ports.map(\.hostPort) } == [9090])
        #expect(try await h2.inspect(id).NetworkSettings.Ports["80/tcp"]??.first?.HostPort == "9090")
    }
}

/// dockerd's range for ports published without a host port.
enum PortRequestRange { static let ephemeral: ClosedRange<UInt16> = 49153...60999 }
