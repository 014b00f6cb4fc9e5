import BerthModels
import Foundation
import GRDB

public struct LayerRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "layers"
    public var chain_id: String
    public var diff_id: String
    public var parent_chain_id: String?
    public var size: Int64
    public var created: Int64
    public init(chain_id: String, diff_id: String, parent_chain_id: String?, size: Int64, created: Int64) {
        self.chain_id = chain_id; self.diff_id = diff_id; self.parent_chain_id = parent_chain_id
        self.size = size; self.created = created
    }

    /// The chain id, checked again before a path is built from it (rows written by older
    /// versions were not validated).
    public var chain: Digest { get throws(DigestError) { try Digest(parsing: chain_id) } }
}

public struct ImageRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "images"
    /// `sha256:<hex>` of the config blob.
    public var id: String
    public var config: Data
    /// Nanoseconds since the epoch, from the config's `created`.
    public var created: Int64
    public var size: Int64
    public var last_tag_time: Int64
    public var parent_id: String
    public init(id: String, config: Data, created: Int64, size: Int64, last_tag_time: Int64, parent_id: String) {
        self.id = id; self.config = config; self.created = created; self.size = size
        self.last_tag_time = last_tag_time; self.parent_id = parent_id
    }

    /// The image id as a checked digest (it names the config blob's file).
    public var digest: Digest { get throws(DigestError) { try Digest(parsing: id) } }
}

public struct ImageLayerRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "image_layers"
    public var image_id: String
    public var position: Int
    public var chain_id: String
    public init(image_id: String, position: Int, chain_id: String) {
        self.image_id = image_id; self.position = position; self.chain_id = chain_id
    }
}

public struct ImageRefRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "image_refs"
    public var reference: String
    public var image_id: String
    /// `tag` or `digest`
    public var kind: String
    public var created: Int64
    public init(reference: String, image_id: String, kind: String, created: Int64) {
        self.reference = reference; self.image_id = image_id; self.kind = kind; self.created = created
    }
}

public struct ContainerRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "containers"
    public var id: String
    public var name: String
    public var image_id: String
    public var image_name: String
    public var created: Int64
    public var config: Data
    public var host_config: Data
    public var command: String
    public var labels: String
    /// created | running | paused | restarting | removing | exited | dead
    public var status: String
    public var pid: Int64
    public var monitor_pid: Int64
    public var exit_code: Int64
    public var oom_killed: Bool
    public var error: String
    public var started_at: Int64
    public var finished_at: Int64
    public var restart_count: Int64
    /// Incremented at every start, so an exit report of an earlier run is recognised.
    public var run_generation: Int64
    public var network_mode: String
    /// A user stopped it: `unless-stopped` does not bring it back.
    public var manually_stopped: Bool
    /// The delay of the last policy restart, in milliseconds.
    public var backoff_ms: Int64
    /// When a scheduled policy restart is due (nanoseconds since the epoch), 0 for none.
    public var restart_at: Int64
    /// State.Health as JSON, "" when the container has no health check.
    public var health: String
    /// The ports published by the current run, host ports chosen (NetworkSettings.Ports as
    /// JSON), "" while it does not run.
    public var ports: String

    public init(id: String, name: String, image_id: String, image_name: String, created: Int64, config: Data,
                host_config: Data, command: String, labels: String) {
        self.id = id; self.name = name; self.image_id = image_id; self.image_name = image_name
        self.created = created; self.config = config; self.host_config = host_config; self.command = command
        self.labels = labels; status = "created"; pid = 0; monitor_pid = 0; exit_code = 0; oom_killed = false
        error = ""; started_at = 0; finished_at = 0; restart_count = 0; run_generation = 0
        network_mode = "bridge"; manually_stopped = false; backoff_ms = 0; restart_at = 0; health = ""
        ports = ""
    }
}

public struct ExecRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "execs"
    public var id: String
    public var container_id: String
    public var config: Data
    public var running: Bool
    public var exit_code: Int64?
    public var pid: Int64
    public var created: Int64
    public init(id: String, container_id: String, config: Data, created: Int64) {
        self.id = id; self.container_id = container_id; self.config = config; running = false
        exit_code = nil; pid = 0; self.created = created
    }
}

/// The columns `GET /containers/json` needs, without the config blobs.
public struct ContainerListRow: Sendable, Equatable, FetchableRecord {
    public let id: String
    public let name: String
    public let image_id: String
    public let image_name: String
    public let created: Int64
    public let command: String
    public let labels: String
    public let status: String
    public let exit_code: Int64
    public let started_at: Int64
    public let finished_at: Int64
    public let network_mode: String
    /// The health check's status (starting, healthy, unhealthy), nil without one.
    public let health: String?
    public let ports: String

    public init(row: Row) {
        id = row[0]; name = row[1]; image_id = row[2]; image_name = row[3]; created = row[4]; command = row[5]
        labels = row[6]; status = row[7]; exit_code = row[8]; started_at = row[9]; finished_at = row[10]
        network_mode = row[11]; health = row[12]; ports = row[13]
    }

    static let columns = "id, name, image_id, image_name, created, command, labels, status, exit_code, started_at, finished_at, network_mode, json_extract(NULLIF(health, ''), '$.Status'), ports"
}

public struct EventRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "events"
    public var seq: Int64?
    public var time_nano: Int64
    public var type: String
    public var action: String
    public var actor_id: String
    public var attributes: String
    public init(time_nano: Int64, type: String, action: String, actor_id: String, attributes: String) {
        self.time_nano = time_nano; self.type = type; self.action = action; self.actor_id = actor_id
        self.attributes = attributes
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { seq = inserted.rowID }
}

/// A compressed blob known to carry a layer (`diff_id`) in a repository (`domain/path`).
public struct LayerBlobRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "layer_blobs"
    public var diff_id: String
    public var digest: String
    public var media_type: String
    public var size: Int64
    public var repository: String
    public init(diff_id: String, digest: String, media_type: String, size: Int64, repository: String) {
        self.diff_id = diff_id; self.digest = digest; self.media_type = media_type; self.size = size; self.repository = repository
    }
}
