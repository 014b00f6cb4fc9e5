import Foundation
import GRDB

/// A volume of the local driver (`volumes`); its data is `<data-root>/volumes/<name>/_data`.
public struct VolumeRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "volumes"
    public var name: String
    public var driver: String
    public var created: Int64
    /// Labels and driver options (JSON objects; "" when none were given, shown as null).
    public var labels: String
    public var options: String
    /// Made for a container (`-v /path`, an image's VOLUME): removed with it by `rm -v`, and by
    /// a plain `volume prune`.
    public var anonymous: Bool

    public init(name: String, driver: String = "local", created: Int64, labels: String, options: String, anonymous: Bool) {
        self.name = name; self.driver = driver; self.created = created; self.labels = labels; self.options = options
        self.anonymous = anonymous
    }
}

/// One mount of a container (`container_mounts`): a volume (by name), a bind (a host path) or a
/// tmpfs, as resolved at create. A volume's users are the rows that name it: no counters.
public struct MountRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "container_mounts"
    public var container_id: String
    /// `volume`, `bind` or `tmpfs`.
    public var type: String
    /// The volume's name ("" for binds and tmpfs).
    public var name: String
    /// The host path of a bind; tmpfs options for a tmpfs.
    public var source: String
    public var destination: String
    public var rw: Bool
    /// As inspect shows it (`ro`, `z`, "").
    public var mode: String
    public var propagation: String
    /// Whether the image's content at the destination is copied into an empty volume.
    public var copy_up: Bool
    /// A path inside the volume to mount instead of its root (`volume-subpath`).
    public var subpath: String
    public var position: Int64

    public init(container_id: String, type: String, name: String, source: String, destination: String, rw: Bool,
                mode: String, propagation: String, copy_up: Bool, subpath: String, position: Int64) {
        self.container_id = container_id; self.type = type; self.name = name; self.source = source
        self.destination = destination; self.rw = rw; self.mode = mode; self.propagation = propagation
        self.copy_up = copy_up; self.subpath = subpath; self.position = position
    }
}
