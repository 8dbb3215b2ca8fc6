import Magma
import MagmaProtocol
import MagmaWire

extension HostContext {
    /// Applies `export_object` or `import_object`. Unknown (export) or used (import) object ids
    /// fail the context (thrown); what is wrong with the share goes in the reply.
    func applyShare(_ message: VirtioContextProtocol.ClientMessage, _ scope: inout CommandScope) throws(MagmaError) {
        switch message {
        case .exportObject(let m):
            let reply = try target(m.reply, scope)
            let object: ShareTable.Object
            switch m.objectType {
            case .semaphore: object = .semaphore(try semaphore(m.objectId))
            case .timeline: object = .timeline(try timeline(m.objectId))
            case .buffer: return try reply.writeStatus(.invalidArgs("a buffer is shared as its resource, not by export_object"))
            }
            do throws(MagmaError) {
                try scope.shares.add(ShareTable.Share(context: id, objectId: m.objectId, object: object), id: m.shareId)
                try reply.writeStatus(nil)
            } catch where error.status == .invalidArgs || error.status == .memoryError {
                try reply.writeStatus(error)
            }
        case .importObject(let m):
            let reply = try target(m.reply, scope)
            switch m.objectType {
            case .semaphore: try checkNew(m.objectId, in: semaphores, "semaphore")
            case .timeline: try checkNew(m.objectId, in: timelines, "timeline")
            case .buffer: return try reply.writeStatus(.invalidArgs("a buffer is imported as its resource, not by import_object"))
            }
            do throws(MagmaError) {
                let share = try scope.shares.share(m.shareId)
                switch (m.objectType, share.object) {
                case (.semaphore, .semaphore(let semaphore)):
                    semaphores[m.objectId] = try connection.importSemaphore(try semaphore.export(), flags: m.flags)
                case (.timeline, .timeline(let timeline)):
                    guard m.flags.isEmpty else { throw MagmaError.invalidArgs("a timeline is imported with no flags") }
                    timelines[m.objectId] = try connection.importTimelineSemaphore(try timeline.export())
                default:
                    throw MagmaError.invalidArgs("share \(m.shareId) is a \(share.object.type), not a \(m.objectType)")
                }
                try reply.writeStatus(nil)
            } catch where error.status == .invalidArgs {
                try reply.writeStatus(error)
            }
        default:
            throw .internalError("\(message) is not a share command")
        }
    }
}
