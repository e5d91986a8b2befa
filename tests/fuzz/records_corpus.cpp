/*
 * Writes the seed corpus of fuzz_records (tests/fuzz/corpus/records/): one
 * valid record of each kind, its kind's number as the first byte. Not
 * built by CMake; run it again when a kind's layout changes:
 *
 *     g++ -std=c++17 -Isrc tests/fuzz/records_corpus.cpp \
 *         src/core/cluster/records.cpp -o /tmp/records_corpus \
 *         && /tmp/records_corpus tests/fuzz/corpus/records
 */
#include "core/bus/directory.hpp"
#include "core/cluster/records.hpp"

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

using namespace socketio;
using namespace socketio::cluster;

namespace {

std::vector<std::string> seeds;

void add(Rec kind, const Body& b)
{
    seeds.push_back(std::string(1, static_cast<char>(kind)) + b.bytes());
}

template <typename T>
void add(const T& record)
{
    Body b;
    record.encode(b);
    add(T::kind, b);
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::cerr << "usage: records_corpus DIR\n";
        return 2;
    }
    const std::vector<std::string> rooms{"r1", "room two"};
    const std::vector<std::string> except{"x"};
    const std::vector<std::string_view> frames{"\x81\x05" "42[1]",
                                               "\x82\x03" "abc"};

    Body b;
    records::Broadcast::encode(b, 7, "/rec", rooms, except, frames);
    add(Rec::broadcast, b);
    add(records::Post{"AAAAAAAAAAAAAAAAAAAA", 7, "4hello"});
    add(records::PostDone{7, eio::Error::bad_request});
    add(records::Poll{"AAAAAAAAAAAAAAAAAAAA", 8});
    add(records::PollGone{"AAAAAAAAAAAAAAAAAAAA", 8});
    add(records::PollAnswer{8, std::nullopt, "4a\x1e" "4b"});
    add(records::WsAttach{"AAAAAAAAAAAAAAAAAAAA", 9});
    add(records::WsRefuse{9});
    add(records::WsIn{"AAAAAAAAAAAAAAAAAAAA", 9, true, "\x01\x02"});
    Body out;
    records::WsOut::encode(out, 9, frames);
    add(Rec::ws_out, out);
    add(records::WsClose{9, 1000, "bye"});
    add(records::WsGone{"AAAAAAAAAAAAAAAAAAAA", 9});
    add(records::Migrate{"AAAAAAAAAAAAAAAAAAAA", 9, 4096, "state"});
    add(records::SlotGone{3});
    add(records::PollReleased{"AAAAAAAAAAAAAAAAAAAA", 8});
    add(records::UserPut{"k1", "alice", "sock", 3, 12, 0});
    add(records::UserPut{"k2", "bob", "sock2", bus::away_slot, 13, 5000});
    add(records::UserRemoved{"k1"});
    Body kept;
    records::Persist::encode(kept, "AAAAAAAAAAAAAAAAAAAA", 1234, 4096, 3, 7,
                             4242, false, "/", rooms, "socket");
    add(Rec::persist, kept);
    add(records::Forget{"AAAAAAAAAAAAAAAAAAAA"});

    for (std::size_t i = 0; i < seeds.size(); i++) {
        std::ofstream f(std::string(argv[1]) + "/seed" + std::to_string(i),
                        std::ios::binary);
        f << seeds[i];
    }
    return 0;
}
