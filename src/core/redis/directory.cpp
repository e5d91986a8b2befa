#include "core/redis/directory.hpp"

#include "core/chat/chat.hpp"

#include <boost/json/parse.hpp>

#include <set>

namespace socketio::redis {

namespace {

/* {key, name} from a socket's data, as fetchSockets() gives it */
std::optional<chat::User> user_of(const FetchedSocket& s)
{
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(s.data_json, ec);
    const boost::json::object* o = ec ? nullptr : v.if_object();
    if (o == nullptr) {
        return std::nullopt;
    }
    const boost::json::value* key = o->if_contains("key");
    const boost::json::value* name = o->if_contains("name");
    if (key == nullptr || name == nullptr || !key->is_string()
        || !name->is_string())
    {
        return std::nullopt;
    }
    return chat::User{std::string(key->get_string()),
                      std::string(name->get_string()), s.id};
}

}  // namespace

Directory::Directory(chat::Directory& local, Member& member, std::string node,
                     std::function<eio::Millis()> clock)
    : local_(local), member_(member), node_(std::move(node)),
      clock_(std::move(clock))
{
}

std::string Directory::new_key()
{
    if (auto n = member_.take_key()) {
        return chat::key_from_counter(*n);
    }
    /* "u<node>.<n>": never one of the counter's, which have no '.';
       n from this node's own counter, which all its workers share */
    std::string key = local_.new_key();
    key.insert(1, node_ + ".");
    return key;
}

/*
 * A question asked while one is on its way waits for the next, which
 * starts when that one is answered: an answer is never older than its
 * question (one on its way might not see a user who left since), and a
 * burst of questions costs one more round trip, not one each.
 */
void Directory::ask(std::function<void(Users)> done)
{
    next_.push_back(std::move(done));
    if (!asking_) {
        start();
    }
}

void Directory::start()
{
    waiting_ = std::move(next_);
    next_.clear();
    asking_ = true;

    member_.fetch("/", {}, clock_(),
                  [this](std::vector<FetchedSocket> sockets, bool) {
        Users all;
        all.local = false;
        std::set<std::string> seen;
        for (const FetchedSocket& s : sockets) {
            if (auto u = user_of(s)) {
                if (seen.insert(u->key).second) {
                    all.users.push_back(std::move(*u));
                }
            }
        }
        auto waiting = std::move(waiting_);
        waiting_.clear();
        asking_ = false;
        for (auto& fn : waiting) {
            fn(all);
        }
        if (!next_.empty() && !asking_) {
            start();
        }
    });
}

void Directory::all_users(std::function<void(Users)> done)
{
    if (!member_.connected()) {
        done(Users{local_.list(), true});
        return;
    }
    ask(std::move(done));
}

void Directory::count_all(std::function<void(std::size_t)> done)
{
    if (!member_.connected()) {
        done(local_.count());
        return;
    }
    ask([done = std::move(done)](Users all) { done(all.users.size()); });
}

void Directory::exists(std::string_view key, std::function<void(bool)> done)
{
    if (local_.find(key).has_value() || !member_.connected()) {
        done(local_.find(key).has_value());
        return;
    }

    sio::BroadcastOptions in;
    in.rooms.push_back(chat::Chat::user_room(key));
    member_.fetch("/", in, clock_(),
                  [done = std::move(done)](std::vector<FetchedSocket> sockets,
                                           bool) { done(!sockets.empty()); });
}

}  // namespace socketio::redis
