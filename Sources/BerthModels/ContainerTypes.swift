/// `GET /containers/{id}/json`
public struct ContainerInspect: Codable, Sendable {
    public var Id: String
    public var Created: String
    public var Path: String
    public var Args: [String]
    public var State: ContainerState
    public var Image: String
    public var ResolvConfPath: String
    public var HostnamePath: String
    public var HostsPath: String
    public var LogPath: String
    public var Name: String
    public var RestartCount: Int
    public var Driver: String
    public var Platform: String
    public var MountLabel: String
    public var ProcessLabel: String
    public var AppArmorProfile: String
    @AlwaysEncoded public var ExecIDs: [String]? = nil
    public var HostConfig: HostConfig
    public var GraphDriver: GraphDriver
    public var SizeRw: Int64?
    public var SizeRootFs: Int64?
    public var Mounts: [MountPoint]
    public var Config: ContainerConfig
    public var NetworkSettings: NetworkSettings

    public init(Id: String, Created: String, Path: String, Args: [String], State: ContainerState, Image: String,
                ResolvConfPath: String, HostnamePath: String, HostsPath: String, LogPath: String, Name: String,
                RestartCount: Int, HostConfig: HostConfig, GraphDriver: GraphDriver, Mounts: [MountPoint],
                Config: ContainerConfig, NetworkSettings: NetworkSettings, ExecIDs: [String]?) {
        self.Id = Id; self.Created = Created; self.Path = Path; self.Args = Args; self.State = State
        self.Image = Image; self.ResolvConfPath = ResolvConfPath; self.HostnamePath = HostnamePath
        self.HostsPath = HostsPath; self.LogPath = LogPath; self.Name = Name; self.RestartCount = RestartCount
        self.Driver = "overlay2"; self.Platform = "linux"; self.MountLabel = ""; self.ProcessLabel = ""
        self.AppArmorProfile = ""; self.ExecIDs = ExecIDs; self.HostConfig = HostConfig
        self.GraphDriver = GraphDriver; self.Mounts = Mounts; self.Config = Config
        self.NetworkSettings = NetworkSettings
    }
}

public struct ContainerState: Codable, Sendable {
    public var Status: String
    public var Running: Bool
    public var Paused: Bool
    public var Restarting: Bool
    public var OOMKilled: Bool
    public var Dead: Bool
    public var Pid: Int
    public var ExitCode: Int
    public var Error: String
    public var StartedAt: String
    public var FinishedAt: String
    public var Health: HealthState?

    public init(Status: String, Running: Bool, Paused: Bool, Restarting: Bool, OOMKilled: Bool, Dead: Bool,
                Pid: Int, ExitCode: Int, Error: String, StartedAt: String, FinishedAt: String, Health: HealthState? = nil) {
        self.Health = Health
        self.Status = Status; self.Running = Running; self.Paused = Paused; self.Restarting = Restarting
        self.OOMKilled = OOMKilled; self.Dead = Dead; self.Pid = Pid; self.ExitCode = ExitCode
        self.Error = Error; self.StartedAt = StartedAt; self.FinishedAt = FinishedAt
    }
}

public struct GraphDriver: Codable, Sendable {
    public var Name: String
    public var Data: [String: String]
    public init(Name: String, Data: [String: String]) { self.Name = Name; self.Data = Data }
}

public struct MountPoint: Codable, Sendable {
    public var `Type`: String
    public var Name: String?
    public var Source: String
    public var Destination: String
    public var Driver: String?
    public var Mode: String
    public var RW: Bool
    public var Propagation: String
    public init(Type: String, Name: String?, Source: String, Destination: String, Driver: String?, Mode: String, RW: Bool,
                Propagation: String) {
        self.Type = `Type`; self.Name = Name; self.Source = Source; self.Destination = Destination; self.Driver = Driver
        self.Mode = Mode; self.RW = RW; self.Propagation = Propagation
    }
}

public struct NetworkSettings: Codable, Sendable {
    public var Bridge: String
    public var SandboxID: String
    public var SandboxKey: String
    public var Ports: [String: [PortBinding]?]
    public var HairpinMode: Bool
    public var LinkLocalIPv6Address: String
    public var LinkLocalIPv6PrefixLen: Int
    @AlwaysEncoded public var SecondaryIPAddresses: JSONValue? = nil
    @AlwaysEncoded public var SecondaryIPv6Addresses: JSONValue? = nil
    public var EndpointID: String
    public var Gateway: String
    public var GlobalIPv6Address: String
    public var GlobalIPv6PrefixLen: Int
    public var IPAddress: String
    public var IPPrefixLen: Int
    public var IPv6Gateway: String
    public var MacAddress: String
    public var Networks: [String: EndpointSettings]

    public init(sandboxKey: String, networks: [String: EndpointSettings]) {
        Bridge = ""; SandboxID = ""; SandboxKey = sandboxKey; Ports = [:]; HairpinMode = false
        LinkLocalIPv6Address = ""; LinkLocalIPv6PrefixLen = 0; EndpointID = ""; Gateway = ""
        GlobalIPv6Address = ""; GlobalIPv6PrefixLen = 0; IPAddress = ""; IPPrefixLen = 0; IPv6Gateway = ""
        MacAddress = ""; Networks = networks
    }
}

public struct EndpointSettings: Codable, Sendable {
    @AlwaysEncoded public var IPAMConfig: EndpointIPAMConfig? = nil
    @AlwaysEncoded public var Links: [String]? = nil
    @AlwaysEncoded public var Aliases: [String]? = nil
    public var MacAddress: String
    public var NetworkID: String
    public var EndpointID: String
    public var Gateway: String
    public var IPAddress: String
    public var IPPrefixLen: Int
    public var IPv6Gateway: String
    public var GlobalIPv6Address: String
    public var GlobalIPv6PrefixLen: Int
    public var DNSNames: [String]?
    @AlwaysEncoded public var DriverOpts: [String: String]? = nil

    public init(networkID: String) {
        MacAddress = ""; NetworkID = networkID; EndpointID = ""; Gateway = ""; IPAddress = ""
        IPPrefixLen = 0; IPv6Gateway = ""; GlobalIPv6Address = ""; GlobalIPv6PrefixLen = 0
    }

    private enum CodingKeys: String, CodingKey {
        case IPAMConfig, Links, Aliases, MacAddress, NetworkID, EndpointID, Gateway, IPAddress, IPPrefixLen, IPv6Gateway,
             GlobalIPv6Address, GlobalIPv6PrefixLen, DNSNames, DriverOpts
    }

    /// Clients send only what they ask for (`IPAMConfig`, `Aliases`, …); the rest defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        IPAMConfig = try c.decodeIfPresent(EndpointIPAMConfig.self, forKey: .IPAMConfig)
        Links = try c.decodeIfPresent([String].self, forKey: .Links)
        Aliases = try c.decodeIfPresent([String].self, forKey: .Aliases)
        MacAddress = try c.decodeIfPresent(String.self, forKey: .MacAddress) ?? ""
        NetworkID = try c.decodeIfPresent(String.self, forKey: .NetworkID) ?? ""
        EndpointID = try c.decodeIfPresent(String.self, forKey: .EndpointID) ?? ""
        Gateway = try c.decodeIfPresent(String.self, forKey: .Gateway) ?? ""
        IPAddress = try c.decodeIfPresent(String.self, forKey: .IPAddress) ?? ""
        IPPrefixLen = try c.decodeIfPresent(Int.self, forKey: .IPPrefixLen) ?? 0
        IPv6Gateway = try c.decodeIfPresent(String.self, forKey: .IPv6Gateway) ?? ""
        GlobalIPv6Address = try c.decodeIfPresent(String.self, forKey: .GlobalIPv6Address) ?? ""
        GlobalIPv6PrefixLen = try c.decodeIfPresent(Int.self, forKey: .GlobalIPv6PrefixLen) ?? 0
        DNSNames = try c.decodeIfPresent([String].self, forKey: .DNSNames)
        DriverOpts = try c.decodeIfPresent([String: String].self, forKey: .DriverOpts)
    }
}

/// One row of `GET /containers/json`.
public struct ContainerSummary: Codable, Sendable {
    public var Id: String
    public var Names: [String]
    public var Image: String
    public var ImageID: String
    public var Command: String
    public var Created: Int64
    public var Ports: [PortSummary]
    public var SizeRw: Int64?
    public var SizeRootFs: Int64?
    public var Labels: [String: String]
    public var State: String
    public var Status: String
    public var HostConfig: [String: String]
    public var NetworkSettings: [String: [String: EndpointSettings]]
    public var Mounts: [MountPoint]

    public init(Id: String, Names: [String], Image: String, ImageID: String, Command: String, Created: Int64,
                Labels: [String: String], State: String, Status: String, NetworkMode: String) {
        self.Id = Id; self.Names = Names; self.Image = Image; self.ImageID = ImageID; self.Command = Command
        self.Created = Created; self.Ports = []; self.Labels = Labels; self.State = State; self.Status = Status
        self.HostConfig = ["NetworkMode": NetworkMode]; self.NetworkSettings = ["Networks": [:]]; self.Mounts = []
    }
}

public struct ContainerCreateResponse: Codable, Sendable {
    public var Id: String
    public var Warnings: [String]
    public init(Id: String, Warnings: [String]) { self.Id = Id; self.Warnings = Warnings }
}

public struct ContainerWaitResponse: Codable, Sendable {
    public struct WaitError: Codable, Sendable { public var Message: String }
    public var StatusCode: Int
    public var Error: WaitError?
    public init(StatusCode: Int, error: String?) {
        self.StatusCode = StatusCode
        self.Error = error.map { WaitError(Message: $0) }
    }
}

public struct PruneContainersResponse: Codable, Sendable {
    public var ContainersDeleted: [String]
    public var SpaceReclaimed: Int64
    public init(ContainersDeleted: [String], SpaceReclaimed: Int64) {
        self.ContainersDeleted = ContainersDeleted; self.SpaceReclaimed = SpaceReclaimed
    }
}

public struct IDResponse: Codable, Sendable {
    public var Id: String
    public init(Id: String) { self.Id = Id }
}

/// `POST /containers/{id}/exec` body.
public struct ExecConfig: Codable, Sendable {
    public var AttachStdin: Bool?
    public var AttachStdout: Bool?
    public var AttachStderr: Bool?
    public var ConsoleSize: [Int]?
    public var DetachKeys: String?
    public var Tty: Bool?
    public var Env: [String]?
    public var Cmd: [String]?
    public var Privileged: Bool?
    public var User: String?
    public var WorkingDir: String?
    public init() {}
}

/// `POST /exec/{id}/start` body.
public struct ExecStartConfig: Codable, Sendable {
    public var Detach: Bool?
    public var Tty: Bool?
    public var ConsoleSize: [Int]?
    public init() {}
}

/// `GET /exec/{id}/json`
public struct ExecInspect: Codable, Sendable {
    public struct ProcessConfig: Codable, Sendable {
        public var arguments: [String]
        public var entrypoint: String
        public var privileged: Bool
        public var tty: Bool
        public var user: String
        public init(arguments: [String], entrypoint: String, privileged: Bool, tty: Bool, user: String) {
            self.arguments = arguments; self.entrypoint = entrypoint; self.privileged = privileged
            self.tty = tty; self.user = user
        }
    }
    public var CanRemove: Bool
    public var DetachKeys: String
    public var ID: String
    public var Running: Bool
    public var ExitCode: Int?
    public var ProcessConfig: ProcessConfig
    public var OpenStdin: Bool
    public var OpenStderr: Bool
    public var OpenStdout: Bool
    public var ContainerID: String
    public var Pid: Int

    public init(ID: String, ContainerID: String, Running: Bool, ExitCode: Int?, ProcessConfig: ProcessConfig,
                OpenStdin: Bool, OpenStdout: Bool, OpenStderr: Bool, Pid: Int) {
        self.CanRemove = false; self.DetachKeys = ""; self.ID = ID; self.Running = Running
        self.ExitCode = ExitCode; self.ProcessConfig = ProcessConfig; self.OpenStdin = OpenStdin
        self.OpenStderr = OpenStderr; self.OpenStdout = OpenStdout; self.ContainerID = ContainerID; self.Pid = Pid
    }
}
