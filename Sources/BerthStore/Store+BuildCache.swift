import Foundation
import GRDB

extension Store {
    /// The image a build step made before, if that image is still there.
    public func cachedBuildStep(_ key: String) throws -> String? {
        try rd { db in
            try String.fetchOne(db, sql: """
                SELECT b.image_id FROM build_cache b JOIN images i ON i.id = b.image_id WHERE b.key = ?
                """, arguments: [key])
        }
    }

    /// Forgets every cached step; returns their keys.
    public func clearBuildCache() throws -> [String] {
        try wr { db in
            let ids = try String.fetchAll(db, sql: "SELECT key FROM build_cache")
            try db.execute(sql: "DELETE FROM build_cache")
            return ids
        }
    }

    /// A cached step used again.
    public func touchBuildStep(_ key: String, at: Int64) throws {
        try wr { db in
            try db.execute(sql: "UPDATE build_cache SET last_used = ?, usage_count = usage_count + 1 WHERE key = ?", arguments: [at, key])
        }
    }

    /// Every cached step whose image is still there.
    public func buildSteps() throws -> [BuildStepRecord] {
        try rd { db in
            try BuildStepRecord.fetchAll(db, sql: """
                SELECT b.* FROM build_cache b JOIN images i ON i.id = b.image_id ORDER BY b.created
                """)
        }
    }

    public func recordBuildStep(_ key: String, image: String, at: Int64) throws {
        try wr { db in
            try db.execute(sql: "INSERT OR REPLACE INTO build_cache (key, image_id, created) VALUES (?, ?, ?)", arguments: [key, image, at])
        }
    }
}

/// A step of the classic builder's cache.
public struct BuildStepRecord: Codable, Sendable, FetchableRecord {
    public var key: String
    public var image_id: String
    public var created: Int64
    public var last_used: Int64
    public var usage_count: Int64
}
