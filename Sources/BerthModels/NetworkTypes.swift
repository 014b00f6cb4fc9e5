/// Docker's network objects on the wire (`/networks/...`, `NetworkingConfig`, `PortBindings`).

/// One network as `GET /networks/{id}` and `GET /networks` show it.
public struct NetworkResource: Codable, Sendable {
    public var Name: String
    public var Id: String
    public var Created: String
    public var Scope: String
    public var Driver: String
    public var EnableIPv6: Bool
    public var IPAM: IPAM
    public var Internal: Bool
    public var Attachable: Bool
    public var Ingress: Bool
    public var ConfigFrom: ConfigReference
    public var ConfigOnly: Bool
    public var Containers: [String: NetworkContainer]
    public var Options: [String: String]
    public var Labels: [String: String]

    public init(Name: String, Id: String, Created: String, Driver: String, EnableIPv6: Bool, IPAM: IPAM, Internal: Bool,
                Attachable: Bool, Containers: [String: NetworkContainer], Options: [String: String], Labels: [String: String]) {
        self.Name = Name; self.Id = Id; self.Created = Created; Scope = "local"; self.Driver = Driver
        self.EnableIPv6 = EnableIPv6; self.IPAM = IPAM; self.Internal = Internal; self.Attachable = Attachable
        Ingress = false; ConfigFrom = ConfigReference(Network: ""); ConfigOnly = false; self.Containers = Containers
        self.Options = Options; self.Labels = Labels
    }

    public struct ConfigReference: Codable, Sendable { public var Network: String }
}

public struct IPAM: Codable, Sendable, Equatable {
    public var Driver: String?
    @AlwaysEncoded public var Options: [String: String]? = nil
    public var Config: [IPAMConfig]?
    public init(Driver: String? = "default", Options: [String: String]? = [:], Config: [IPAMConfig]? = []) {
        self.Driver = Driver; self.Options = Options; self.Config = Config
    }
}

public struct IPAMConfig: Codable, Sendable, Equatable {
    public var Subnet: String?
    public var IPRange: String?
    public var Gateway: String?
    public var AuxiliaryAddresses: [String: String]?
    public init(Subnet: String? = nil, IPRange: String? = nil, Gateway: String? = nil) {
        self.Subnet = Subnet; self.IPRange = IPRange; self.Gateway = Gateway
    }
    private enum CodingKeys: String, CodingKey { case Subnet, IPRange, Gateway, AuxiliaryAddresses = "AuxiliaryAddresses" }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(Subnet, forKey: .Subnet)
        try c.encodeIfPresent(IPRange, forKey: .IPRange)
        try c.encodeIfPresent(Gateway, forKey: .Gateway)
        try c.encodeIfPresent(AuxiliaryAddresses, forKey: .AuxiliaryAddresses)
    }
}

/// A container's endpoint as the network lists it.
public struct NetworkContainer: Codable, Sendable {
    public var Name: String
    public var EndpointID: String
    public var MacAddress: String
    public var IPv4Address: String
    public var IPv6Address: String
    public init(Name: String, EndpointID: String, MacAddress: String, IPv4Address: String, IPv6Address: String) {
        self.Name = Name; self.EndpointID = EndpointID; self.MacAddress = MacAddress
        self.IPv4Address = IPv4Address; self.IPv6Address = IPv6Address
    }
}

/// `POST /networks/create`.
public struct NetworkCreateRequest: Codable, Sendable {
    public var Name: String
    public var CheckDuplicate: Bool?
    public var Driver: String?
    public var Scope: String?
    public var Internal: Bool?
    public var Attachable: Bool?
    public var Ingress: Bool?
    public var ConfigOnly: Bool?
    public var IPAM: IPAM?
    public var EnableIPv6: Bool?
    public var Options: [String: String]?
    public var Labels: [String: String]?
    public init(Name: String) { self.Name = Name }
}

public struct NetworkCreateResponse: Codable, Sendable {
    public var Id: String
    public var Warning: String
    public init(Id: String, Warning: String) { self.Id = Id; self.Warning = Warning }
}

/// `POST /networks/{id}/connect`.
public struct NetworkConnectRequest: Codable, Sendable {
    public var Container: String
    public var EndpointConfig: EndpointSettings?
    public init(Container: String, EndpointConfig: EndpointSettings?) { self.Container = Container; self.EndpointConfig = EndpointConfig }
}

/// `POST /networks/{id}/disconnect`.
public struct NetworkDisconnectRequest: Codable, Sendable {
    public var Container: String
    public var Force: Bool?
    public init(Container: String, Force: Bool?) { self.Container = Container; self.Force = Force }
}

public struct NetworkPruneResponse: Codable, Sendable {
    public var NetworksDeleted: [String]
    public init(NetworksDeleted: [String]) { self.NetworksDeleted = NetworksDeleted }
}

/// `NetworkingConfig` of a create request.
public struct NetworkingConfig: Codable, Sendable {
    public var EndpointsConfig: [String: EndpointSettings]?
    public init(EndpointsConfig: [String: EndpointSettings]?) { self.EndpointsConfig = EndpointsConfig }
}

/// Static addresses asked for on one network (`--ip`, `--ip6`).
public struct EndpointIPAMConfig: Codable, Sendable, Equatable {
    public var IPv4Address: String?
    public var IPv6Address: String?
    public var LinkLocalIPs: [String]?
    public init(IPv4Address: String?, IPv6Address: String?) { self.IPv4Address = IPv4Address; self.IPv6Address = IPv6Address }
}

/// One host binding of a container port (`HostConfig.PortBindings`, `NetworkSettings.Ports`).
public struct PortBinding: Codable, Sendable, Equatable, Hashable {
    public var HostIp: String
    public var HostPort: String
    public init(HostIp: String, HostPort: String) { self.HostIp = HostIp; self.HostPort = HostPort }
    private enum CodingKeys: String, CodingKey { case HostIp, HostPort }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        HostIp = try c.decodeIfPresent(String.self, forKey: .HostIp) ?? ""
        HostPort = try c.decodeIfPresent(String.self, forKey: .HostPort) ?? ""
    }
}

/// One row of a container summary's `Ports`.
public struct PortSummary: Codable, Sendable, Equatable {
    public var IP: String?
    public var PrivatePort: Int
    public var PublicPort: Int?
    public var `Type`: String
    public init(IP: String?, PrivatePort: Int, PublicPort: Int?, Type: String) {
        self.IP = IP; self.PrivatePort = PrivatePort; self.PublicPort = PublicPort; self.Type = Type
    }
}
