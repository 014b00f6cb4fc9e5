import BerthSystem

/// The seam between the engine's networks (store, IPAM, DNS names) and the host's data path:
/// bridges, a network namespace per container, veth pairs, and one nftables table of Berth's own.
/// `LinuxNetworkHost` is the real one; tests of the API use a fake.
public protocol NetworkHost: Sendable {
    /// Builds Berth's nftables table from scratch (at daemon start): the bridges that exist and
    /// the ports published by running containers.
    func setUp(bridges: [BridgeSpec], ports: [PortMapping]) async throws
    /// Creates a bridge (kept as it is if it exists: running containers are attached to it).
    func addBridge(_ b: BridgeSpec) async throws
    func removeBridge(_ b: BridgeSpec) async
    /// A new network namespace with loopback up, kept by a bind mount at `path`.
    func createSandbox(_ path: String) async throws
    func destroySandbox(_ path: String) async
    /// A veth pair from the bridge into the sandbox, addressed and routed.
    func attach(_ e: EndpointSpec) async throws
    func detach(_ e: EndpointSpec) async
    func publish(_ ports: [PortMapping]) async throws
    func unpublish(_ ports: [PortMapping]) async
    /// A datagram (`stream` false) or listening stream socket bound inside the sandbox at `address:port`.
    func socket(inSandbox path: String, address: IPv4, port: UInt16, stream: Bool) throws -> Int32
}

/// One bridge network on the host.
public struct BridgeSpec: Sendable, Equatable {
    public var name: String
    public var subnet: Subnet
    public var gateway: IPv4
    public var `internal`: Bool
    public var mac: String
    /// The IPv6 side of a network with IPv6.
    public var subnet6: Subnet6?
    public var gateway6: IPv6?
    public init(name: String, subnet: Subnet, gateway: IPv4, internal: Bool, mac: String, subnet6: Subnet6? = nil, gateway6: IPv6? = nil) {
        self.name = name; self.subnet = subnet; self.gateway = gateway; self.internal = `internal`; self.mac = mac
        self.subnet6 = subnet6; self.gateway6 = gateway6
    }
}

/// A container's interface on one network.
public struct EndpointSpec: Sendable, Equatable {
    /// The container's network namespace (a bind-mounted nsfs file).
    public var sandbox: String
    public var ifname: String
    /// The host end of the veth pair.
    public var hostIfname: String
    public var bridge: String
    public var address: IPv4
    public var prefix: Int
    public var mac: String
    public var gateway: IPv4
    /// Whether the default route goes through this network (the first non-internal one).
    public var defaultRoute: Bool
    /// The IPv6 address (with the network's prefix) and gateway on a network with IPv6.
    public var address6: IPv6? = nil
    public var prefix6: Int = 64
    public var gateway6: IPv6? = nil
    public init(sandbox: String, ifname: String, hostIfname: String, bridge: String, address: IPv4, prefix: Int, mac: String,
                gateway: IPv4, defaultRoute: Bool) {
        self.sandbox = sandbox; self.ifname = ifname; self.hostIfname = hostIfname; self.bridge = bridge
        self.address = address; self.prefix = prefix; self.mac = mac; self.gateway = gateway; self.defaultRoute = defaultRoute
    }
}

/// A published port: traffic to `hostIP:hostPort` (any local address when nil) goes to the container.
public struct PortMapping: Sendable, Hashable {
    public var proto: String
    public var hostIP: IPv4?
    public var hostPort: UInt16
    public var containerIP: IPv4
    public var containerPort: UInt16
    /// For a port published on every address of a container with IPv6: the host's IPv6
    /// addresses forward to this one as well.
    public var containerIP6: IPv6?
    public init(proto: String, hostIP: IPv4?, hostPort: UInt16, containerIP: IPv4, containerPort: UInt16, containerIP6: IPv6? = nil) {
        self.proto = proto; self.hostIP = hostIP; self.hostPort = hostPort; self.containerIP = containerIP
        self.containerPort = containerPort; self.containerIP6 = containerIP6
    }
}

/// Stands in when the host lacks iproute2 or nftables: every change fails with the reason, so
/// a berthd with `--bridge none` still runs containers (loopback only).
public struct UnavailableNetworkHost: NetworkHost {
    let reason: String
    public init(reason: String) { self.reason = reason }
    func fail() -> BerthError { BerthError.system(reason) }
    public func setUp(bridges: [BridgeSpec], ports: [PortMapping]) async throws { throw fail() }
    public func addBridge(_ b: BridgeSpec) async throws { throw fail() }
    public func removeBridge(_ b: BridgeSpec) async {}
    public func createSandbox(_ path: String) async throws { throw fail() }
    public func destroySandbox(_ path: String) async {}
    public func attach(_ e: EndpointSpec) async throws { throw fail() }
    public func detach(_ e: EndpointSpec) async {}
    public func publish(_ ports: [PortMapping]) async throws { throw fail() }
    public func unpublish(_ ports: [PortMapping]) async {}
    public func socket(inSandbox path: String, address: IPv4, port: UInt16, stream: Bool) throws -> Int32 { throw fail() }
}
