/// The image configuration file (OCI image config / Docker image JSON), stored as a blob whose
/// sha256 is the image id. Unknown keys are not kept: Berth re-encodes only for new images.
public struct ImageConfigFile: Codable, Sendable {
    public var architecture: String?
    public var variant: String?
    public var os: String?
    public var created: String?
    public var author: String?
    public var comment: String?
    public var docker_version: String?
    public var config: ContainerConfig?
    public var container: String?
    public var container_config: ContainerConfig?
    public var rootfs: RootFS
    public var history: [History]?

    public struct RootFS: Codable, Sendable {
        public var type: String
        public var diff_ids: [Digest]
        public init(type: String, diff_ids: [Digest]) { self.type = type; self.diff_ids = diff_ids }
    }

    public struct History: Codable, Sendable {
        public var created: String?
        public var created_by: String?
        public var author: String?
        public var comment: String?
        public var empty_layer: Bool?
        public init(created: String?, created_by: String?, author: String? = nil, comment: String? = nil,
                    empty_layer: Bool? = nil) {
            self.created = created; self.created_by = created_by; self.author = author
            self.comment = comment; self.empty_layer = empty_layer
        }
    }

    public init(rootfs: RootFS) { self.rootfs = rootfs }
}

/// `GET /images/{name}/json`
public struct ImageInspect: Codable, Sendable {
    public var Id: String
    public var RepoTags: [String]
    public var RepoDigests: [String]
    public var Parent: String
    public var Comment: String
    public var Created: String
    public var DockerVersion: String
    public var Author: String
    public var Config: ContainerConfig
    /// The container an image was committed from, and its configuration then.
    public var Container: String?
    public var ContainerConfig: ContainerConfig?
    public var Architecture: String
    public var Variant: String?
    public var Os: String
    public var Size: Int64
    public var VirtualSize: Int64?
    public var GraphDriver: GraphDriver
    public var RootFS: RootFS
    public var Metadata: Metadata

    public struct RootFS: Codable, Sendable {
        public var `Type`: String
        public var Layers: [String]
        public init(Type: String, Layers: [String]) { self.Type = Type; self.Layers = Layers }
    }
    public struct Metadata: Codable, Sendable {
        public var LastTagTime: String
        public init(LastTagTime: String) { self.LastTagTime = LastTagTime }
    }

    public init(Id: String, RepoTags: [String], RepoDigests: [String], Parent: String, Comment: String,
                Created: String, DockerVersion: String, Author: String, Config: ContainerConfig,
                Container: String? = nil, ContainerConfig: ContainerConfig? = nil,
                Architecture: String, Variant: String?, Os: String, Size: Int64, GraphDriver: GraphDriver,
                RootFS: RootFS, Metadata: Metadata) {
        self.Id = Id; self.RepoTags = RepoTags; self.RepoDigests = RepoDigests; self.Parent = Parent
        self.Comment = Comment; self.Created = Created; self.DockerVersion = DockerVersion; self.Author = Author
        self.Config = Config; self.Container = Container; self.ContainerConfig = ContainerConfig
        self.Architecture = Architecture; self.Variant = Variant; self.Os = Os
        self.Size = Size; self.GraphDriver = GraphDriver; self.RootFS = RootFS; self.Metadata = Metadata
    }
}

/// One row of `GET /images/json`.
public struct ImageSummary: Codable, Sendable {
    public var Id: String
    public var ParentId: String
    public var RepoTags: [String]
    public var RepoDigests: [String]
    public var Created: Int64
    public var Size: Int64
    public var SharedSize: Int64
    public var VirtualSize: Int64?
    public var Labels: [String: String]
    public var Containers: Int64

    public init(Id: String, ParentId: String, RepoTags: [String], RepoDigests: [String], Created: Int64,
                Size: Int64, Labels: [String: String], Containers: Int64) {
        self.Id = Id; self.ParentId = ParentId; self.RepoTags = RepoTags; self.RepoDigests = RepoDigests
        self.Created = Created; self.Size = Size; self.SharedSize = -1; self.Labels = Labels
        self.Containers = Containers
    }
}

/// One item of `DELETE /images/{name}`.
public struct ImageDeleteItem: Codable, Sendable {
    public var Untagged: String?
    public var Deleted: String?
    public init(Untagged: String? = nil, Deleted: String? = nil) { self.Untagged = Untagged; self.Deleted = Deleted }
}

/// One line of a JSON progress stream (load, pull, push, build).
public struct ProgressMessage: Codable, Sendable {
    public struct Detail: Codable, Sendable {
        public var current: Int64?
        public var total: Int64?
        public init(current: Int64? = nil, total: Int64? = nil) { self.current = current; self.total = total }
    }
    public struct ErrorDetail: Codable, Sendable {
        public var message: String
        public init(message: String) { self.message = message }
    }
    public var stream: String?
    public var status: String?
    public var id: String?
    public var progress: String?
    public var progressDetail: Detail?
    public var errorDetail: ErrorDetail?
    public var error: String?
    public var aux: JSONValue?

    public init(stream: String? = nil, status: String? = nil, id: String? = nil, progress: String? = nil,
                progressDetail: Detail? = nil, error: String? = nil, aux: JSONValue? = nil) {
        self.stream = stream; self.status = status; self.id = id; self.progress = progress
        self.progressDetail = progressDetail; self.aux = aux
        if let error { self.error = error; self.errorDetail = ErrorDetail(message: error) }
    }
}

/// One item of `GET /images/{name}/history`, newest first.
public struct HistoryItem: Codable, Sendable {
    public var Id: String
    public var Created: Int64
    public var CreatedBy: String
    public var Tags: [String]?
    public var Size: Int64
    public var Comment: String
    public init(Id: String, Created: Int64, CreatedBy: String, Tags: [String]?, Size: Int64, Comment: String) {
        self.Id = Id; self.Created = Created; self.CreatedBy = CreatedBy; self.Tags = Tags; self.Size = Size; self.Comment = Comment
    }
}

/// `POST /images/prune`
public struct PruneImagesResponse: Codable, Sendable {
    public var ImagesDeleted: [ImageDeleteItem]?
    public var SpaceReclaimed: Int64
    public init(ImagesDeleted: [ImageDeleteItem]?, SpaceReclaimed: Int64) {
        self.ImagesDeleted = ImagesDeleted; self.SpaceReclaimed = SpaceReclaimed
    }
}

/// `GET /system/df`
public struct DiskUsage: Codable, Sendable {
    public var LayersSize: Int64
    public var Images: [ImageSummary]
    public var Containers: [ContainerSummary]
    public var Volumes: [Volume]
    public var BuildCache: [BuildCacheRecord]
    public init(LayersSize: Int64, Images: [ImageSummary], Containers: [ContainerSummary], Volumes: [Volume] = [],
                BuildCache: [BuildCacheRecord] = []) {
        self.LayersSize = LayersSize; self.Images = Images; self.Containers = Containers; self.Volumes = Volumes
        self.BuildCache = BuildCache
    }
}

/// One step of the build cache in `GET /system/df`.
public struct BuildCacheRecord: Codable, Sendable {
    public var ID: String
    public var Parents: [String]?
    public var `Type`: String
    public var Description: String
    public var InUse: Bool
    public var Shared: Bool
    public var Size: Int64
    public var CreatedAt: String
    public var LastUsedAt: String?
    public var UsageCount: Int64
    public init(ID: String, Parents: [String]?, Type: String, Description: String, InUse: Bool, Shared: Bool, Size: Int64,
                CreatedAt: String, LastUsedAt: String?, UsageCount: Int64) {
        self.ID = ID; self.Parents = Parents; self.Type = Type; self.Description = Description; self.InUse = InUse
        self.Shared = Shared; self.Size = Size; self.CreatedAt = CreatedAt; self.LastUsedAt = LastUsedAt; self.UsageCount = UsageCount
    }
}

/// `POST /auth` answer.
public struct AuthResponse: Codable, Sendable {
    public var Status: String
    public var IdentityToken: String?
    public init(Status: String, IdentityToken: String?) { self.Status = Status; self.IdentityToken = IdentityToken }
}

/// `GET /distribution/{name}/json`
public struct DistributionInspect: Codable, Sendable {
    public struct Descriptor: Codable, Sendable {
        public var mediaType: String
        public var digest: String
        public var size: Int64
        public init(mediaType: String, digest: String, size: Int64) { self.mediaType = mediaType; self.digest = digest; self.size = size }
    }
    public struct Platform: Codable, Sendable {
        public var architecture: String
        public var os: String
        public var variant: String?
        public init(architecture: String, os: String, variant: String?) { self.architecture = architecture; self.os = os; self.variant = variant }
    }
    public var Descriptor: Descriptor
    public var Platforms: [Platform]
    public init(Descriptor: Descriptor, Platforms: [Platform]) { self.Descriptor = Descriptor; self.Platforms = Platforms }
}
