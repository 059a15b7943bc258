"""`dub bench`: quality and speed of every stage on eval data, with a JSON contract."""
