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

    /// Forgets every cached step; returns the images they named.
    public func clearBuildCache() throws -> [String] {
        try wr { db in
            let ids = try String.fetchAll(db, sql: "SELECT DISTINCT image_id FROM build_cache")
            try db.execute(sql: "DELETE FROM build_cache")
            return ids
        }
    }

    public func recordBuildStep(_ key: String, image: String, at: Int64) throws {
        try wr { db in
            try db.execute(sql: "INSERT OR REPLACE INTO build_cache (key, image_id, created) VALUES (?, ?, ?)", arguments: [key, image, at])
        }
    }
}
