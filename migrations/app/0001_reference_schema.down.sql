DROP TABLE IF EXISTS chat_members, chats, tasks, sessions, users, families;
