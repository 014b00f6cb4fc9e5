import BerthNetwork

/// berthd's networking flags (dockerd's names).
public struct NetworkConfig: Sendable {
    /// `--bridge none` turns the default bridge off: containers of the default network get a
    /// namespace with loopback only.
    public var defaultBridge: Bool
    /// `--bip`: the default bridge's gateway address and prefix (`172.20.0.1/16`).
    public var bip: String?
    /// `--fixed-cidr`: the range the default bridge draws addresses from.
    public var fixedCIDR: String?
    /// `--default-address-pool`.
    public var pools: [AddressPools.Pool]
    /// The interface name of the default bridge.
    public var bridgeName: String
    /// `--ipv6`: the default bridge has IPv6 too, on `--fixed-cidr-v6` (or a unique local /64).
    public var ipv6 = false
    /// `--userland-proxy`: berthd also listens on published ports and relays (off by default).
    public var userlandProxy = false
    public var fixedCIDRv6: String?

    public init(defaultBridge: Bool = true, bip: String? = nil, fixedCIDR: String? = nil,
                pools: [AddressPools.Pool] = AddressPools.dockerDefault, bridgeName: String = "berth0") {
        self.defaultBridge = defaultBridge; self.bip = bip; self.fixedCIDR = fixedCIDR; self.pools = pools
        self.bridgeName = bridgeName
    }
}
