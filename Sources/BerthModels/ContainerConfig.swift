/// The container configuration shared by create requests, container inspect and image configs
/// (Docker's `ContainerConfig`). Wire names are Docker's.
public struct ContainerConfig: Codable, Sendable, Equatable {
    public var Hostname: String?
    public var Domainname: String?
    public var User: String?
    public var AttachStdin: Bool?
    public var AttachStdout: Bool?
    public var AttachStderr: Bool?
    public var ExposedPorts: [String: EmptyObject]?
    public var Tty: Bool?
    public var OpenStdin: Bool?
    public var StdinOnce: Bool?
    public var Env: [String]?
    public var Cmd: [String]?
    public var Healthcheck: HealthcheckConfig?
    public var ArgsEscaped: Bool?
    public var Image: String?
    public var Volumes: [String: EmptyObject]?
    public var WorkingDir: String?
    public var Entrypoint: [String]?
    public var NetworkDisabled: Bool?
    public var MacAddress: String?
    public var OnBuild: [String]?
    public var Labels: [String: String]?
    public var StopSignal: String?
    public var StopTimeout: Int?
    public var Shell: [String]?

    public init() {}

    private enum CodingKeys: String, CodingKey {
        case Hostname, Domainname, User, AttachStdin, AttachStdout, AttachStderr, ExposedPorts, Tty,
             OpenStdin, StdinOnce, Env, Cmd, Healthcheck, ArgsEscaped, Image, Volumes, WorkingDir,
             Entrypoint, NetworkDisabled, MacAddress, OnBuild, Labels, StopSignal, StopTimeout, Shell
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        Hostname = try c.decodeIfPresent(String.self, forKey: .Hostname)
        Domainname = try c.decodeIfPresent(String.self, forKey: .Domainname)
        User = try c.decodeIfPresent(String.self, forKey: .User)
        AttachStdin = try c.decodeIfPresent(Bool.self, forKey: .AttachStdin)
        AttachStdout = try c.decodeIfPresent(Bool.self, forKey: .AttachStdout)
        AttachStderr = try c.decodeIfPresent(Bool.self, forKey: .AttachStderr)
        ExposedPorts = try c.decodeIfPresent([String: EmptyObject].self, forKey: .ExposedPorts)
        Tty = try c.decodeIfPresent(Bool.self, forKey: .Tty)
        OpenStdin = try c.decodeIfPresent(Bool.self, forKey: .OpenStdin)
        StdinOnce = try c.decodeIfPresent(Bool.self, forKey: .StdinOnce)
        Env = try c.decodeIfPresent([String].self, forKey: .Env)
        Cmd = try Self.stringOrList(c, .Cmd)
        Healthcheck = try c.decodeIfPresent(HealthcheckConfig.self, forKey: .Healthcheck)
        ArgsEscaped = try c.decodeIfPresent(Bool.self, forKey: .ArgsEscaped)
        Image = try c.decodeIfPresent(String.self, forKey: .Image)
        Volumes = try c.decodeIfPresent([String: EmptyObject].self, forKey: .Volumes)
        WorkingDir = try c.decodeIfPresent(String.self, forKey: .WorkingDir)
        Entrypoint = try Self.stringOrList(c, .Entrypoint)
        NetworkDisabled = try c.decodeIfPresent(Bool.self, forKey: .NetworkDisabled)
        MacAddress = try c.decodeIfPresent(String.self, forKey: .MacAddress)
        OnBuild = try c.decodeIfPresent([String].self, forKey: .OnBuild)
        Labels = try c.decodeIfPresent([String: String].self, forKey: .Labels)
        StopSignal = try c.decodeIfPresent(String.self, forKey: .StopSignal)
        StopTimeout = try c.decodeIfPresent(Int.self, forKey: .StopTimeout)
        Shell = try c.decodeIfPresent([String].self, forKey: .Shell)
    }

    /// As Go writes Docker's struct: every field without `omitempty` is there — an unset string
    /// as "", a flag as false, a list or map as null — so clients find the keys dockerd gives
    /// them (container and image inspect, image configs); the others only when set.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Hostname ?? "", forKey: .Hostname)
        try c.encode(Domainname ?? "", forKey: .Domainname)
        try c.encode(User ?? "", forKey: .User)
        try c.encode(AttachStdin ?? false, forKey: .AttachStdin)
        try c.encode(AttachStdout ?? false, forKey: .AttachStdout)
        try c.encode(AttachStderr ?? false, forKey: .AttachStderr)
        try c.encodeIfPresent(ExposedPorts, forKey: .ExposedPorts)
        try c.encode(Tty ?? false, forKey: .Tty)
        try c.encode(OpenStdin ?? false, forKey: .OpenStdin)
        try c.encode(StdinOnce ?? false, forKey: .StdinOnce)
        try c.encode(Env, forKey: .Env)
        try c.encode(Cmd, forKey: .Cmd)
        try c.encodeIfPresent(Healthcheck, forKey: .Healthcheck)
        try c.encodeIfPresent(ArgsEscaped, forKey: .ArgsEscaped)
        try c.encode(Image ?? "", forKey: .Image)
        try c.encode(Volumes, forKey: .Volumes)
        try c.encode(WorkingDir ?? "", forKey: .WorkingDir)
        try c.encode(Entrypoint, forKey: .Entrypoint)
        try c.encodeIfPresent(NetworkDisabled, forKey: .NetworkDisabled)
        try c.encodeIfPresent(MacAddress, forKey: .MacAddress)
        try c.encode(OnBuild, forKey: .OnBuild)
        try c.encode(Labels, forKey: .Labels)
        try c.encodeIfPresent(StopSignal, forKey: .StopSignal)
        try c.encodeIfPresent(StopTimeout, forKey: .StopTimeout)
        try c.encodeIfPresent(Shell, forKey: .Shell)
    }

    /// Docker accepts `"Cmd": "echo hi"` as well as a list (strslice).
    private static func stringOrList(_ c: KeyedDecodingContainer<CodingKeys>, _ k: CodingKeys) throws -> [String]? {
        if let s = try? c.decodeIfPresent(String.self, forKey: k) { return [s] }
        return try c.decodeIfPresent([String].self, forKey: k)
    }
}

/// `HEALTHCHECK` / `--health-*`: durations in nanoseconds, zero meaning the default.
/// `Test` is `["NONE"]`, `["CMD", arg…]`, `["CMD-SHELL", command]`, or empty to inherit.
public struct HealthcheckConfig: Codable, Sendable, Equatable {
    public var Test: [String]?
    public var Interval: Int64?
    public var Timeout: Int64?
    public var StartPeriod: Int64?
    public var StartInterval: Int64?
    public var Retries: Int?
    public init(Test: [String]? = nil, Interval: Int64? = nil, Timeout: Int64? = nil, StartPeriod: Int64? = nil,
                StartInterval: Int64? = nil, Retries: Int? = nil) {
        self.Test = Test; self.Interval = Interval; self.Timeout = Timeout; self.StartPeriod = StartPeriod
        self.StartInterval = StartInterval; self.Retries = Retries
    }
}

/// `State.Health` of container inspect.
public struct HealthState: Codable, Sendable, Equatable {
    public var Status: String
    public var FailingStreak: Int
    public var Log: [HealthLogEntry]
    public init(Status: String, FailingStreak: Int = 0, Log: [HealthLogEntry] = []) {
        self.Status = Status; self.FailingStreak = FailingStreak; self.Log = Log
    }
}

public struct HealthLogEntry: Codable, Sendable, Equatable {
    public var Start: String
    public var End: String
    public var ExitCode: Int
    public var Output: String
    public init(Start: String, End: String, ExitCode: Int, Output: String) {
        self.Start = Start; self.End = End; self.ExitCode = ExitCode; self.Output = Output
    }
}
