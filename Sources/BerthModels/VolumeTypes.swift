/// A volume as `/volumes` shows it.
public struct Volume: Codable, Sendable, Equatable {
    public var Name: String
    public var Driver: String
    public var Mountpoint: String
    public var CreatedAt: String
    public var Labels: [String: String]?
    public var Scope: String
    public var Options: [String: String]?
    public var UsageData: VolumeUsage?
    public init(Name: String, Driver: String, Mountpoint: String, CreatedAt: String, Labels: [String: String]?,
                Options: [String: String]?, UsageData: VolumeUsage? = nil) {
        self.Name = Name; self.Driver = Driver; self.Mountpoint = Mountpoint; self.CreatedAt = CreatedAt
        self.Labels = Labels; self.Scope = "local"; self.Options = Options; self.UsageData = UsageData
    }
}

/// Size (-1 when not computed) and how many containers use the volume.
public struct VolumeUsage: Codable, Sendable, Equatable {
    public var Size: Int64
    public var RefCount: Int64
    public init(Size: Int64, RefCount: Int64) { self.Size = Size; self.RefCount = RefCount }
}

public struct VolumeCreateRequest: Codable, Sendable {
    public var Name: String?
    public var Driver: String?
    public var DriverOpts: [String: String]?
    public var Labels: [String: String]?
    public init(Name: String? = nil, Driver: String? = nil, DriverOpts: [String: String]? = nil, Labels: [String: String]? = nil) {
        self.Name = Name; self.Driver = Driver; self.DriverOpts = DriverOpts; self.Labels = Labels
    }
}

public struct VolumeListResponse: Codable, Sendable {
    public var Volumes: [Volume]
    public var Warnings: [String]
    public init(Volumes: [Volume], Warnings: [String] = []) { self.Volumes = Volumes; self.Warnings = Warnings }
}

public struct VolumePruneResponse: Codable, Sendable {
    public var VolumesDeleted: [String]
    public var SpaceReclaimed: Int64
    public init(VolumesDeleted: [String], SpaceReclaimed: Int64) { self.VolumesDeleted = VolumesDeleted; self.SpaceReclaimed = SpaceReclaimed }
}

/// One of `HostConfig.Mounts` (`--mount`). Absent keys stay absent, so the field round-trips.
public struct MountSpec: Codable, Sendable, Equatable {
    public var `Type`: String?
    public var Source: String?
    public var Target: String?
    public var ReadOnly: Bool?
    public var Consistency: String?
    public var BindOptions: BindOptions?
    public var VolumeOptions: VolumeOptions?
    public var TmpfsOptions: TmpfsOptions?

    public struct BindOptions: Codable, Sendable, Equatable {
        public var Propagation: String?
        public var NonRecursive: Bool?
        public var CreateMountpoint: Bool?
        public var ReadOnlyNonRecursive: Bool?
        public var ReadOnlyForceRecursive: Bool?
    }
    public struct VolumeOptions: Codable, Sendable, Equatable {
        public var NoCopy: Bool?
        public var Labels: [String: String]?
        public var DriverConfig: DriverConfig?
        public var Subpath: String?
    }
    public struct DriverConfig: Codable, Sendable, Equatable {
        public var Name: String?
        public var Options: [String: String]?
    }
    public struct TmpfsOptions: Codable, Sendable, Equatable {
        public var SizeBytes: Int64?
        public var Mode: Int64?
        public var Options: [[String]]?
    }
    public init(Type: String? = nil, Source: String? = nil, Target: String? = nil, ReadOnly: Bool? = nil) {
        self.Type = `Type`; self.Source = Source; self.Target = Target; self.ReadOnly = ReadOnly
    }
}

/// `POST /build/prune` answer.
public struct BuildPruneResponse: Codable, Sendable {
    public var CachesDeleted: [String]
    public var SpaceReclaimed: Int64
    public init(CachesDeleted: [String], SpaceReclaimed: Int64) { self.CachesDeleted = CachesDeleted; self.SpaceReclaimed = SpaceReclaimed }
}
