import BerthEngine
import BerthModels
import BerthNetwork
import BerthSystem
import Foundation
import Testing

/// Hostile network requests: names and options that would reach `ip` or `nft` as text, bad
/// addresses and port specifications, and port requests built to make the search slow.
@Suite struct NetworkHostileTests {
    @Test func namesOptionsAndAddressesAreChecked() async throws {
        let h = try await APIHarness()
        defer { h.cleanup() }
        func create(_ req: NetworkCreateRequest) async throws -> RawResponse { try await h.request("POST", "/v1.47/networks/create", json: req) }
        for name in ["bad name", "x\nflush ruleset", "-x", "", "a;b"] {
            #expect(try await create(NetworkCreateRequest(Name: name)).status == 400, "\(name)")
        }
        for bridge in ["br0\nlink del berth0", "a b", "averyveryverylongname", "\"x\""] {
            var req = NetworkCreateRequest(Name: "hb-\(abs(bridge.hashValue) % 1000)")
            req.Options = ["com.docker.network.bridge.name": bridge]
            #expect(try await create(req).status == 400, "\(bridge)")
        }
        for (subnet, gateway, range) in [("10.1.0.0/33", "", ""), ("1.2.3/24", "", ""), ("10.1.0.1/24", "", ""),
                                          ("10.1.0.0/24", "10.2.0.1", ""), ("10.1.0.0/24", "", "10.1.1.0/25"),
                                          ("10.1.0.0/24", "10.1.0.1\nx", "")] {
            var req = NetworkCreateRequest(Name: "hs")
            req.IPAM = IPAM(Config: [IPAMConfig(Subnet: subnet, IPRange: range.isEmpty ? nil : range, Gateway: gateway.isEmpty ? nil : gateway)])
            #expect(try await create(req).status == 400, "\(subnet) \(gateway) \(range)")
        }
        // Nothing of the refused requests reached the host side.
        #expect(h.network.state.withLock { Set($0.bridges.keys) } == ["berth0"])
        let names = try await h.decode([NetworkResource].self, "GET", "/v1.47/networks").map(\.Name)
        #expect(Set(names) == ["bridge", "host", "none"])
    }

    @Test func badPortSpecificationsAreRefusedAtCreate() async throws {
        let h = try await APIHarness()
        defer { h.cleanup() }
        try await h.loadImage(try FakeImage.archive(cmd: ["sleep"]))
        for (key, hostPort, hostIP) in [("abc/tcp", "80", ""), ("0/tcp", "80", ""), ("70000/tcp", "80", ""), ("80/icmp", "80", ""),
                                        ("80/tcp", "x", ""), ("80/tcp", "9-1", ""), ("80/tcp", "70000", ""), ("80/tcp", "80", "nonsense")] {
            var hc = HostConfig()
            hc.PortBindings = [key: [PortBinding(HostIp: hostIP, HostPort: hostPort)]]
            let r = try await h.request("POST", "/v1.47/containers/create", json: CreateBody(hostConfig: hc))
            #expect(r.status == 400, "\(key) \(hostPort) \(hostIP): \(r.text)")
        }
        #expect(try await h.decode([ContainerSummary].self, "GET", "/v1.47/containers/json?all=1").isEmpty)
    }

    /// Thousands of bindings over one host range take distinct ports in a single pass (the search
    /// resumes where the previous one stopped instead of starting over each time).
    @Test func manyBindingsOverOneRange() async throws {
        let h = try await APIHarness()
        defer { h.cleanup() }
        try await h.loadImage(try FakeImage.archive(cmd: ["sleep"]))
        var hc = HostConfig()
        var bindings: [String: [PortBinding]?] = [:]
        for p in 1...3000 { bindings["\(p)/tcp"] = [PortBinding(HostIp: "", HostPort: "20000-40000")] }
        hc.PortBindings = bindings
        let id = try await h.create(CreateBody(hostConfig: hc))
        try await h.start(id)
        let ports = try await h.inspect(id).NetworkSettings.Ports
        let hostPorts = ports.values.compactMap { $0?.first?.HostPort }
        #expect(hostPorts.count == 3000 && Set(hostPorts).count == 3000)
        #expect(h.network.state.withLock { $0.ports.count } == 3000)
        // A second container asking for the same range gets the ports after them.
        var hc2 = HostConfig()
        hc2.PortBindings = ["80/tcp": [PortBinding(HostIp: "", HostPort: "20000-40000")]]
        let second = try await h.create(CreateBody(hostConfig: hc2))
        try await h.start(second)
        #expect(try await h.inspect(second).NetworkSettings.Ports["80/tcp"]??.first?.HostPort == "23000")
    }
}
