#include "core/eio/query.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using socketio::eio::parse_query;
using socketio::eio::Query;
using socketio::eio::url_decode;

TEST(EioQuery, Plain)
{
    Query q = parse_query("EIO=4&transport=polling&t=N8hyd6w&sid=abc");
    EXPECT_EQ(q.eio, "4");
    EXPECT_EQ(q.transport, "polling");
    EXPECT_EQ(q.sid, "abc");
}

TEST(EioQuery, Absent)
{
    Query q = parse_query("");
    EXPECT_FALSE(q.eio);
    EXPECT_FALSE(q.transport);
    EXPECT_FALSE(q.sid);

    q = parse_query("t=1&eio=4&Transport=polling&SID=x");
    EXPECT_FALSE(q.eio) << "names are case-sensitive";
    EXPECT_FALSE(q.transport);
    EXPECT_FALSE(q.sid);
}

TEST(EioQuery, MissingValues)
{
    Query q = parse_query("EIO&transport=&sid");
    ASSERT_TRUE(q.eio);
    EXPECT_EQ(*q.eio, "");
    ASSERT_TRUE(q.transport);
    EXPECT_EQ(*q.transport, "");
    ASSERT_TRUE(q.sid);
    EXPECT_EQ(*q.sid, "");
}

TEST(EioQuery, EmptyPairsAreSkipped)
{
    Query q = parse_query("&&EIO=4&&&transport=websocket&");
    EXPECT_EQ(q.eio, "4");
    EXPECT_EQ(q.transport, "websocket");
}

TEST(EioQuery, LastOccurrenceWins)
{
    Query q = parse_query("EIO=3&transport=websocket&EIO=4&transport=polling");
    EXPECT_EQ(q.eio, "4");
    EXPECT_EQ(q.transport, "polling");

    q = parse_query("sid=a&sid=&sid=b");
    EXPECT_EQ(q.sid, "b");
    q = parse_query("sid=a&sid");
    EXPECT_EQ(q.sid, "");
}

TEST(EioQuery, PercentDecoding)
{
    Query q = parse_query("%45IO=%34&transport=pol%6Cing&sid=a%2Fb%3d%3D");
    EXPECT_EQ(q.eio, "4");
    EXPECT_EQ(q.transport, "polling");
    EXPECT_EQ(q.sid, "a/b==");

    /* an '=' in the value after the first one is part of it */
    q = parse_query("sid=a=b");
    EXPECT_EQ(q.sid, "a=b");
    /* a '&' only when escaped */
    q = parse_query("sid=a%26EIO%3D3&EIO=4");
    EXPECT_EQ(q.sid, "a&EIO=3");
    EXPECT_EQ(q.eio, "4");
}

TEST(EioQuery, UrlDecode)
{
    EXPECT_EQ(url_decode(""), "");
    EXPECT_EQ(url_decode("a+b"), "a b");
    EXPECT_EQ(url_decode("a%20b"), "a b");
    EXPECT_EQ(url_decode("%2B"), "+");
    EXPECT_EQ(url_decode("%e2%82%AC"), "\xe2\x82\xac");
    EXPECT_EQ(url_decode("%00"), std::string("\0", 1));
    /* what is not an escape stays as it is (URLSearchParams) */
    EXPECT_EQ(url_decode("%"), "%");
    EXPECT_EQ(url_decode("%4"), "%4");
    EXPECT_EQ(url_decode("%zz"), "%zz");
    EXPECT_EQ(url_decode("%4g"), "%4g");
    EXPECT_EQ(url_decode("100%"), "100%");
    EXPECT_EQ(url_decode("%%41"), "%A");
    EXPECT_EQ(url_decode("%41%"), "A%");
    EXPECT_EQ(url_decode("a%2"), "a%2");
}

TEST(EioQuery, PlusInNamesAndValues)
{
    Query q = parse_query("transport=web+socket&sid=+");
    EXPECT_EQ(q.transport, "web socket");
    EXPECT_EQ(q.sid, " ");
}

TEST(EioQuery, EveryPrefix)
{
    /* cut at every byte, in an exact-size buffer */
    const std::string full = "EIO=4&transport=polling&sid=a%2Fb%3D&t=x+y";
    for (std::size_t n = 0; n <= full.size(); n++) {
        std::vector<char> heap(full.begin(), full.begin() + n);
        Query q = parse_query(std::string_view(heap.data(), heap.size()));
        if (n >= 5) {
            EXPECT_EQ(q.eio, "4") << n;
        } else if (n >= 3) {
            EXPECT_EQ(q.eio, "") << n;
        } else {
            EXPECT_FALSE(q.eio) << n;
        }
        if (n >= 23) {
            EXPECT_EQ(q.transport, "polling") << n;
        }
        if (n >= 36) {
            EXPECT_EQ(q.sid, "a/b=") << n;
        }
        for (std::size_t k = 0; k <= n; k++) {
            std::vector<char> tail(full.begin() + k, full.begin() + n);
            (void) parse_query(std::string_view(tail.data(), tail.size()));
            (void) url_decode(std::string_view(tail.data(), tail.size()));
        }
    }
}
